import { createHash } from 'node:crypto';
import { Readable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { traceLineSchema, type TraceLine } from '../../schemas/trace.ts';
import { faultKinds, faultRates } from '../../src/traces/faults.ts';
import {
  DEFAULT_TRACE_START,
  generateTrace,
  traceLineText,
  type GenerateOptions,
} from '../../src/traces/generate.ts';
import { SeededRandom } from '../../src/traces/random.ts';
import { activatePolicy } from '../../src/policy/active-policy.ts';
import { shippedProfiles } from '../../src/policy/shipped-profiles.ts';
import { simulate } from '../../src/simulation/simulator.ts';
import { decideTrace } from '../support/trace-run.ts';

const options = (overrides: Partial<GenerateOptions> = {}): GenerateOptions => ({
  seed: 1,
  missions: 20,
  signed: false,
  start: DEFAULT_TRACE_START,
  ...overrides,
});
const text = (o: GenerateOptions) => [...generateTrace(o)].map(traceLineText).join('');
const sha = (s: string) => createHash('sha256').update(s).digest('hex');

describe('SeededRandom', () => {
  it('gives the same stream for a seed and another for another seed', () => {
    const draw = (seed: number) => {
      const random = new SeededRandom(seed);
      return Array.from({ length: 8 }, () => random.uint32());
    };
    expect(draw(42)).toEqual(draw(42));
    expect(draw(42)).not.toEqual(draw(43));
  });

  it('keeps int() within its bounds and reaches both ends', () => {
    const random = new SeededRandom(3);
    const seen = new Set(Array.from({ length: 2000 }, () => random.int(1, 6)));
    expect([...seen].sort()).toEqual([1, 2, 3, 4, 5, 6]);
  });
});

describe('ledger trace generate', () => {
  it('writes the same bytes for the same arguments, other bytes for another seed', () => {
    for (const signed of [false, true]) {
      const first = text(options({ signed }));
      expect(sha(text(options({ signed })))).toBe(sha(first));
      expect(sha(text(options({ signed, seed: 2 })))).not.toBe(sha(first));
    }
  });

  it('starts the clock at --start and never moves it back', () => {
    const lines = [...generateTrace(options({ signed: true, start: '2030-05-01T12:00:00.000Z' }))];
    expect(lines[0]?.received_at).toBe('2030-05-01T12:00:00.000Z');
    const times = lines.map((line) => Date.parse(line.received_at));
    expect(times.every((t, i) => i === 0 || t >= times[i - 1]!)).toBe(true);
    expect(lines.map((line) => line.seq)).toEqual(lines.map((_, i) => i + 1));
  });

  it('writes lines that each parse with traceLineSchema and round-trip to the same line', () => {
    for (const line of generateTrace(options({ signed: true, missions: 40 }))) {
      const parsed = traceLineSchema.parse(JSON.parse(traceLineText(line)));
      expect(traceLineText(parsed)).toBe(traceLineText(line));
    }
  });

  it('registers every key first and revokes the leaked keys mid-trace when signed', () => {
    const lines = [...generateTrace(options({ signed: true, missions: 10 }))];
    const firstOther = lines.findIndex((line) => line.kind !== 'key.register');
    expect(firstOther).toBe(13);
    const revocations = lines.filter((line) => line.kind === 'key.revoke');
    expect(revocations.map((line) => line.target)).toEqual([
      'ua-factory-01.k1-ci',
      'ua-factory-02.k1-ci',
      'ua-factory-03.k1-ci',
      'ua-factory-04.k1-ci',
    ]);
    const dispatches = lines.filter((line) => line.kind === 'dispatch');
    const revokedAt = revocations[0]!.received_at;
    expect(dispatches.filter((line) => line.received_at < revokedAt)).toHaveLength(5);
    expect(lines.filter((l) => l.kind === 'key.register' || l.kind === 'key.revoke')).toHaveLength(
      17,
    );
    expect(lines.filter((l) => l.kind === 'dispatch' && !l.headers['ledger-signature'])).toEqual(
      [],
    );
  });

  it('injects every fault kind, near its rate, in 500 signed missions', () => {
    const missions = 500;
    const lines = [...generateTrace(options({ signed: true, missions, seed: 11 }))];
    const count = (test: (line: TraceLine) => boolean) => lines.filter(test).length;
    const rejectedWith = (code: string) => (line: TraceLine) =>
      line.recorded?.outcome === 'rejected' && line.recorded.reasons.includes(code);
    const observed: Record<string, number> = {
      cancel_mid_flight: count((line) => line.kind === 'cancel'),
    };
    for (const kind of faultKinds) {
      const code = faultRates[kind].strict;
      if (code !== 'duplicate' && code !== 'accepted') observed[kind] = count(rejectedWith(code));
    }
    // Duplicates include the stale replays: both are answered by the idempotency key.
    const replays = count(
      (line) =>
        line.recorded?.outcome === 'duplicate' &&
        Date.parse(line.received_at) -
          Date.parse((line.body as { emitted_at: string }).emitted_at) >
          300_000,
    );
    observed.stale_replay = replays;
    observed.duplicate_delivery = count((line) => line.recorded?.outcome === 'duplicate') - replays;
    for (const kind of faultKinds) {
      // revoked_key is drawn only for the half of the missions after the revocation.
      const eligible = kind === 'revoked_key' ? missions / 2 : missions;
      const expected = faultRates[kind].rate * eligible;
      expect(observed[kind], kind).toBeGreaterThan(0);
      expect(observed[kind], kind).toBeGreaterThan(expected * 0.4);
      expect(observed[kind], kind).toBeLessThan(expected * 1.8);
    }
  });

  it('leaves signature faults out of unsigned traces', () => {
    const lines = [...generateTrace(options({ missions: 200 }))];
    expect(lines.some((line) => line.headers['ledger-signature'] !== undefined)).toBe(false);
    expect(lines.some((line) => line.kind.startsWith('key.'))).toBe(false);
    const reasons = new Set(lines.flatMap((line) => line.recorded?.reasons ?? []));
    for (const code of [
      'SIGNATURE_MISSING',
      'SIGNATURE_INVALID',
      'KEY_NOT_VALID_AT',
      'KEY_REVOKED',
    ])
      expect(reasons.has(code), code).toBe(false);
  });
});

describe('what a generated trace records is what the ledger decides', () => {
  const agree = async (
    o: GenerateOptions,
    environment: 'production' | 'staging' | 'development',
  ) => {
    const lines = [...generateTrace({ ...o, environment })];
    const decided = await decideTrace(lines, 'control-plane-strict-v1', environment);
    const differing = lines.filter((line, i) => {
      const got = decided[i]!;
      return (
        got.outcome !== line.recorded?.outcome ||
        got.reasons.join(',') !== line.recorded.reasons.join(',')
      );
    });
    expect(differing.map((line) => ({ line, decided: decided[line.seq - 1] }))).toEqual([]);
    return lines;
  };

  it('signed, under control-plane-strict-v1 in production: every fault rejected with its code', async () => {
    const lines = await agree(options({ signed: true, missions: 150, seed: 5 }), 'production');
    const codes = new Set(lines.flatMap((line) => line.recorded?.reasons ?? []));
    for (const kind of faultKinds) {
      const code = faultRates[kind].strict;
      if (code !== 'duplicate' && code !== 'accepted') expect(codes.has(code), kind).toBe(true);
    }
  }, 60_000);

  it('signed, in staging: governance faults accepted with warnings, contract faults rejected', async () => {
    const lines = await agree(options({ signed: true, missions: 80, seed: 6 }), 'staging');
    const codes = new Set(lines.flatMap((line) => line.recorded?.reasons ?? []));
    expect(codes.has('IDENTITY_MISMATCH') || codes.has('TRACE_MISMATCH')).toBe(true);
    for (const code of ['BUDGET_EXCEEDED', 'INPUT_STALE', 'SIGNATURE_MISSING', 'KEY_REVOKED'])
      expect(codes.has(code), code).toBe(false);
  }, 60_000);

  it('unsigned, in staging (the default for unsigned traces) and in production', async () => {
    await agree(options({ missions: 60, seed: 8 }), 'staging');
    const lines = await agree(options({ missions: 10, seed: 8 }), 'production');
    expect(lines.filter((l) => l.kind === 'dispatch').map((l) => l.recorded?.reasons)).toEqual(
      Array.from({ length: 10 }, () => ['SIGNATURE_MISSING']),
    );
  }, 60_000);

  it.each([
    { signed: true, environment: 'production' as const },
    { signed: false, environment: 'staging' as const },
  ])(
    '`ledger simulate` of a generated trace (signed: $signed) finds no input differing from recorded',
    async ({ signed, environment }) => {
      const trace = text(options({ signed, missions: 120, seed: 9 }));
      const report = await simulate({
        trace: Readable.from([trace]),
        policy: activatePolicy(shippedProfiles['control-plane-strict-v1'], environment, null),
      });
      expect(report.differences.listed).toEqual([]);
      expect(report.differences.compared).toBe(trace.split('\n').length - 1);
      expect(report.outcomes.rejected).toBeGreaterThan(0);
    },
    60_000,
  );
});
