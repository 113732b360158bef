import { createHash } from 'node:crypto';
import { createReadStream, readFileSync } from 'node:fs';
import { Readable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { activatePolicy } from '../../src/policy/active-policy.ts';
import { shippedProfiles, type ShippedProfileId } from '../../src/policy/shipped-profiles.ts';
import type { Environment } from '../../src/policy/modes.ts';
import { reportJson } from '../../src/simulation/report.ts';
import { simulate } from '../../src/simulation/simulator.ts';
import { LogDigest } from '../../src/simulation/log-digest.ts';

const fixture = (name: string) => new URL(`../../fixtures/traces/${name}`, import.meta.url);
const BASIC = fixture('simulate-basic.jsonl');
const basicLines = readFileSync(BASIC, 'utf8')
  .trim()
  .split('\n')
  .map((line) => JSON.parse(line) as Record<string, unknown>);

const policy = (profile: ShippedProfileId, env: Environment, override: 'warn' | null = null) =>
  activatePolicy(shippedProfiles[profile], env, override);

const run = (profile: ShippedProfileId, env: Environment) =>
  simulate({ trace: createReadStream(BASIC), policy: policy(profile, env) });

const traceOf = (lines: readonly unknown[]) =>
  Readable.from([lines.map((l) => (typeof l === 'string' ? l : JSON.stringify(l))).join('\n')]);

describe('simulate: the basic trace', () => {
  for (const [profile, env] of [
    ['development', 'development'],
    ['control-plane-strict-v1', 'production'],
  ] as const) {
    it(`${profile} in ${env}: the report matches its fixture byte for byte, run after run`, async () => {
      const expected = readFileSync(
        fixture(`simulate-basic.${profile}.${env}.report.json`),
        'utf8',
      );
      const first = reportJson(await run(profile, env));
      const second = reportJson(await run(profile, env));
      expect(first).toBe(expected);
      expect(second).toBe(first);
    });
  }

  it('strict production rejects the unsigned inputs with SIGNATURE_MISSING; development accepts them', async () => {
    const strict = await run('control-plane-strict-v1', 'production');
    // The unsigned dispatches and callbacks a development ledger accepted (their `recorded`).
    const unsignedSeqs = basicLines
      .filter(
        (l) =>
          (l.kind === 'dispatch' || l.kind === 'callback') &&
          (l.headers as Record<string, string>)['ledger-signature'] === undefined &&
          (l.recorded as { outcome: string }).outcome === 'accepted',
      )
      .map((l) => l.seq);
    expect(unsignedSeqs.length).toBeGreaterThan(0);
    for (const seq of unsignedSeqs) {
      const listed = strict.differences.listed.find((d) => d.seq === seq);
      expect(listed?.simulated.outcome, `seq ${String(seq)}`).toBe('rejected');
      expect(listed?.simulated.reasons).toContain('SIGNATURE_MISSING');
    }
    expect(strict.findings).toContainEqual(
      expect.objectContaining({ rule: 'signature', code: 'SIGNATURE_MISSING', mode: 'enforce' }),
    );
    const development = await run('development', 'development');
    // Development recorded these inputs as accepted and agrees with every recorded outcome.
    expect(development.differences).toEqual({ compared: 11, count: 0, listed: [] });
    expect(development.reasons).not.toHaveProperty('SIGNATURE_MISSING');
  });

  it('a signed callback is accepted under strict production, its retries (one late) are duplicates', async () => {
    const strict = await run('control-plane-strict-v1', 'production');
    const signed = basicLines.filter(
      (l) =>
        l.kind === 'callback' &&
        (l.headers as Record<string, string>)['ledger-signature'] !== undefined,
    );
    expect(signed).toHaveLength(3);
    // None is listed: each matches its recorded outcome (accepted, then duplicates).
    for (const line of signed)
      expect(strict.differences.listed.map((d) => d.seq)).not.toContain(line.seq);
    expect(strict.outcomes.duplicate).toBe(2);
  });

  it('the report is the same whether the log is kept in memory or spilled and read back', async () => {
    const spilled = reportJson(await run('control-plane-strict-v1', 'production'));
    for (const log of [
      { keep: 'memory' as const },
      // One fold cached: every mission is evicted and read back from the scratch file.
      { keep: 'spill' as const, foldCacheSize: 1 },
      { keep: 'memory' as const, foldCacheSize: 1 },
    ]) {
      const report = await simulate({
        trace: createReadStream(BASIC),
        policy: policy('control-plane-strict-v1', 'production'),
        log,
      });
      expect(reportJson(report), JSON.stringify(log)).toBe(spilled);
    }
  });

  it('policy.activate lines are skipped: the simulated policy stays in force', async () => {
    const report = await run('control-plane-strict-v1', 'production');
    expect(report.outcomes.skipped).toBe(
      basicLines.filter((l) => l.kind === 'policy.activate').length,
    );
    expect(report.policy.profile.id).toBe('control-plane-strict-v1');
  });

  it('the rollback override turns enforced findings into warnings', async () => {
    const report = await simulate({
      trace: createReadStream(BASIC),
      policy: policy('control-plane-strict-v1', 'production', 'warn'),
    });
    expect(report.policy.override).toBe('warn');
    expect(report.findings.every((f) => f.mode === 'warn' && f.effect === 'warned')).toBe(true);
    expect(report.reasons).not.toHaveProperty('SIGNATURE_MISSING');
  });
});

describe('simulate: bad traces fail naming the line', () => {
  const [first, second] = basicLines;

  it('a line that is not JSON', async () => {
    await expect(
      simulate({
        trace: traceOf([first, '{"seq": 2,']),
        policy: policy('development', 'development'),
      }),
    ).rejects.toThrow(/^trace line 2: not JSON/);
  });

  it('a seq out of order', async () => {
    await expect(
      simulate({
        trace: traceOf([first, { ...second, seq: 3 }]),
        policy: policy('development', 'development'),
      }),
    ).rejects.toThrow('trace line 2: seq is 3, expected 2');
  });

  it('a line that is not a trace line', async () => {
    await expect(
      simulate({
        trace: traceOf([{ ...first, kind: 'nonsense' }]),
        policy: policy('development', 'development'),
      }),
    ).rejects.toThrow(/^trace line 1: not a trace line \(kind:/);
  });
});

describe('LogDigest', () => {
  it('hashes the canonical {position, stream, revision, type, data} of each event, newline-ended', () => {
    const digest = new LogDigest();
    const events = [
      { position: 1, stream: 's-1', revision: 0, type: 'a.b', data: { z: 1, a: [true, null] } },
      { position: 2, stream: 's-2', revision: 0, type: 'c', data: { é: 1e21, b: 'x' } },
    ];
    for (const event of events) digest.add(event);
    const expected = createHash('sha256')
      .update(
        '{"data":{"a":[true,null],"z":1},"position":1,"revision":0,"stream":"s-1","type":"a.b"}\n' +
          '{"data":{"b":"x","é":1e+21},"position":2,"revision":0,"stream":"s-2","type":"c"}\n',
      )
      .digest('hex');
    expect(digest.events).toBe(2);
    expect(digest.hex()).toBe(expected);
  });

  it('refuses an event out of position order', () => {
    const digest = new LogDigest();
    expect(() =>
      digest.add({ position: 2, stream: 's', revision: 0, type: 't', data: {} }),
    ).toThrow('position 2 after 0');
  });
});
