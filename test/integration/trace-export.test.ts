import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { traceLineSchema, type TraceLine } from '../../schemas/trace.ts';
import { runTraceExport } from '../../src/cli/trace.ts';
import { DEFAULT_TRACE_START, generateTrace } from '../../src/traces/generate.ts';
import { useStoreAndApp } from '../support/http-app.ts';

/*
 * A seeded, signed trace sent over HTTP to a live app under control-plane-strict-v1 in
 * production, with the app's clock set to each line's receive time; then `ledger trace export`
 * reads the log back over the API. Every input the ledger recorded comes back as the line that
 * was sent: same kind, time, sender, target, body, signature, and the outcome and reason codes
 * the generator intended. Duplicates append nothing, so they are the only lines not exported.
 */

const OPERATOR = 'trace-export-operator-token-00001';
const AUDITOR = 'trace-export-auditor-token-000002';
const factoryToken = (id: string) => `trace-export-${id}-token-0000000`;
const FACTORIES = ['ua-factory-01', 'ua-factory-02', 'ua-factory-03', 'ua-factory-04'];

const sent: TraceLine[] = [
  ...generateTrace({ seed: 21, missions: 30, signed: true, start: DEFAULT_TRACE_START }),
];
let clock = new Date(DEFAULT_TRACE_START);
const dir = mkdtempSync(join(tmpdir(), 'trace-export-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('ledger trace export', () => {
  const on = useStoreAndApp(() => 'pglite:memory', {
    now: () => clock,
    policyProfile: 'control-plane-strict-v1',
    policyEnvironment: 'production',
    rejectionLimits: { perMinute: 1_000_000, bytesPerMinute: 1_000_000_000 },
    tokens: [
      { token: OPERATOR, role: 'operator', name: 'simone-cp-eu1' },
      { token: AUDITOR, role: 'auditor', name: 'trace-auditor' },
      ...FACTORIES.map((id) => ({
        token: factoryToken(id),
        role: 'factory' as const,
        instance_id: id,
      })),
    ],
  });

  /** Sends one line by its route, as its principal. */
  async function send(line: TraceLine): Promise<number> {
    clock = new Date(line.received_at);
    const token = line.principal.role === 'operator' ? OPERATOR : factoryToken(line.principal.id);
    const headers = Object.fromEntries(
      Object.entries(line.headers).filter(
        (entry): entry is [string, string] => entry[1] !== undefined,
      ),
    );
    const target = encodeURIComponent(line.target ?? '');
    const path = {
      dispatch: '/v1/missions',
      callback: `/v1/missions/${target}/events`,
      cancel: `/v1/missions/${target}/cancel`,
      'key.register': '/v1/keys',
      'key.revoke': `/v1/keys/${target}/revoke`,
      'policy.activate': '/v1/policy/activations',
    }[line.kind];
    const res = await on.app.call('POST', path, { token, body: line.body, headers });
    return res.status;
  }

  it('gives back every recorded input as it was sent, with the outcome intended', async () => {
    const head = async () =>
      (
        (await on.app.call('GET', '/v1/projections', { token: AUDITOR })).body as {
          head_position: number;
        }
      ).head_position;
    const from = (await head()) + 1;
    for (const line of sent) await send(line);
    const out = join(dir, 'export.jsonl');
    await runTraceExport({ url: on.app.base, token: AUDITOR, from: String(from), out });

    const exported = readFileSync(out, 'utf8')
      .split('\n')
      .filter((text) => text !== '')
      .map((text) => traceLineSchema.parse(JSON.parse(text)));
    const expected = sent
      .filter((line) => line.recorded?.outcome !== 'duplicate')
      .map((line, i) => ({
        ...line,
        seq: i + 1,
        // The log keeps only a digest of an Idempotency-Key header, and no signature of an input
        // refused before any rule ran (recorded in ledger-rejections: another factory's callback).
        headers:
          line.headers['ledger-signature'] === undefined ||
          line.recorded?.reasons.includes('FORBIDDEN_INSTANCE') === true
            ? {}
            : { 'ledger-signature': line.headers['ledger-signature'] },
      }));
    expect(expected.some((line) => line.recorded?.outcome === 'rejected')).toBe(true);
    expect(expected.some((line) => line.kind === 'key.revoke')).toBe(true);
    expect(exported).toEqual(expected);
  }, 120_000);

  it('exports only the positions asked for', async () => {
    const out = join(dir, 'range.jsonl');
    await runTraceExport({ url: on.app.base, token: AUDITOR, from: '1', to: '3', out });
    const lines = readFileSync(out, 'utf8')
      .split('\n')
      .filter((text) => text !== '');
    // Position 1 is the start's policy.activated, which records no input.
    expect(lines.map((text) => (JSON.parse(text) as TraceLine).seq)).toEqual([1, 2]);
  });

  it("exports an operator's policy activation as the document it activated", async () => {
    const res = await on.app.call('POST', '/v1/policy/activations', {
      token: OPERATOR,
      body: { profile_id: 'control-plane-strict-v1', override: 'warn' },
    });
    expect(res.status).toBeLessThan(300);
    const events = await on.app.call('GET', '/v1/projections', { token: AUDITOR });
    const head = String((events.body as { head_position: number }).head_position);
    const out = join(dir, 'activation.jsonl');
    await runTraceExport({ url: on.app.base, token: AUDITOR, from: head, to: head, out });
    const [line] = readFileSync(out, 'utf8')
      .split('\n')
      .filter((text) => text !== '')
      .map((text) => traceLineSchema.parse(JSON.parse(text)));
    expect(line).toMatchObject({
      seq: 1,
      kind: 'policy.activate',
      received_at: clock.toISOString(),
      principal: { role: 'operator', id: 'simone-cp-eu1' },
      body: { profile: { id: 'control-plane-strict-v1' }, override: 'warn' },
      recorded: { outcome: 'accepted', reasons: [] },
    });
  });
});
