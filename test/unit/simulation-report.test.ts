import { describe, expect, it } from 'vitest';
import type { TraceLine } from '../../schemas/trace.ts';
import { canonicalJson } from '../../src/audit/canonical-json.ts';
import {
  MAX_LISTED_DIFFERENCES,
  ReportTally,
  reportJson,
  reportText,
  type SimulatedInput,
} from '../../src/simulation/report.ts';
import { policyInForce } from '../support/policy.ts';

const policy = policyInForce('control-plane-strict-v1', 'production').active;
const LOG = { events: 3, sha256: 'ab'.repeat(32) };

const line = (seq: number, recorded?: TraceLine['recorded']): TraceLine => ({
  seq,
  kind: 'callback',
  received_at: '2025-11-20T09:00:00.000Z',
  principal: { role: 'factory', id: 'ua-factory-07' },
  target: 'msn_1',
  headers: {},
  body: {},
  ...(recorded === undefined ? {} : { recorded }),
});

const accepted: SimulatedInput = { outcome: 'accepted', reasons: [], findings: [] };
const rejected = (...reasons: string[]): SimulatedInput => ({
  outcome: 'rejected',
  reasons,
  findings: [],
});

describe('ReportTally', () => {
  it('counts outcomes, the rejection ratio over decided inputs, and reason codes once per input', () => {
    const tally = new ReportTally();
    tally.add(line(1), accepted);
    tally.add(line(2), rejected('SIGNATURE_MISSING', 'INPUT_STALE', 'INPUT_STALE'));
    tally.add(line(3), rejected('SIGNATURE_MISSING'));
    tally.add(line(4), { outcome: 'skipped', reasons: [], findings: [] });
    tally.add(line(5), { outcome: 'duplicate', reasons: [], findings: [] });
    const report = tally.report(policy, LOG);
    expect(report.inputs).toBe(5);
    expect(report.outcomes).toEqual({ accepted: 1, rejected: 2, duplicate: 1, skipped: 1 });
    expect(report.rejection_ratio).toBe(0.5);
    expect(report.reasons).toEqual({ INPUT_STALE: 1, SIGNATURE_MISSING: 2 });
    expect(report.policy).toEqual({
      profile: { id: 'control-plane-strict-v1', digest: policy.digest },
      environment: 'production',
      override: null,
    });
    expect(report.log).toEqual(LOG);
  });

  it('rounds the ratio to six decimals, and is 0 with nothing decided', () => {
    const tally = new ReportTally();
    tally.add(line(1), accepted);
    tally.add(line(2), accepted);
    tally.add(line(3), rejected('X'));
    expect(tally.report(policy, LOG).rejection_ratio).toBe(0.333333);
    expect(new ReportTally().report(policy, LOG).rejection_ratio).toBe(0);
  });

  it('counts findings per rule, code, mode and effect, sorted', () => {
    const tally = new ReportTally();
    const warn = { rule: 'staleness', code: 'INPUT_STALE', mode: 'warn', effect: 'warned' };
    const block = { rule: 'budget', code: 'BUDGET_EXCEEDED', mode: 'enforce', effect: 'rejected' };
    tally.add(line(1), { ...accepted, findings: [warn] });
    tally.add(line(2), { ...rejected('BUDGET_EXCEEDED'), findings: [warn, block] });
    expect(tally.report(policy, LOG).findings).toEqual([
      { ...block, count: 1 },
      { ...warn, count: 2 },
    ]);
  });

  it('lists inputs whose outcome or reason codes differ from recorded; skipped lines are not compared', () => {
    const tally = new ReportTally();
    tally.add(line(1, { outcome: 'accepted', reasons: [] }), accepted);
    tally.add(line(2, { outcome: 'accepted', reasons: [] }), rejected('SIGNATURE_MISSING'));
    tally.add(line(3, { outcome: 'rejected', reasons: ['A', 'B'] }), rejected('B', 'A'));
    tally.add(line(4), rejected('X'));
    tally.add(line(5, { outcome: 'accepted', reasons: [] }), {
      outcome: 'skipped',
      reasons: [],
      findings: [],
    });
    const { differences } = tally.report(policy, LOG);
    expect(differences.compared).toBe(3);
    expect(differences.count).toBe(2);
    expect(differences.listed).toEqual([
      {
        seq: 2,
        kind: 'callback',
        target: 'msn_1',
        recorded: { outcome: 'accepted', reasons: [] },
        simulated: { outcome: 'rejected', reasons: ['SIGNATURE_MISSING'] },
      },
      {
        seq: 3,
        kind: 'callback',
        target: 'msn_1',
        recorded: { outcome: 'rejected', reasons: ['A', 'B'] },
        simulated: { outcome: 'rejected', reasons: ['B', 'A'] },
      },
    ]);
  });

  it(`lists the first ${MAX_LISTED_DIFFERENCES} differences and counts all`, () => {
    const tally = new ReportTally();
    const total = MAX_LISTED_DIFFERENCES + 5;
    for (let seq = 1; seq <= total; seq += 1)
      tally.add(line(seq, { outcome: 'accepted', reasons: [] }), rejected('X'));
    const { differences } = tally.report(policy, LOG);
    expect(differences.count).toBe(total);
    expect(differences.listed).toHaveLength(MAX_LISTED_DIFFERENCES);
    expect(differences.listed.at(-1)?.seq).toBe(MAX_LISTED_DIFFERENCES);
    const text = reportText(tally.report(policy, LOG));
    expect(text).toContain(`differences from recorded outcomes: ${total} of ${total} compared`);
    expect(text).toContain(`... ${total - 20} more (in the JSON report)`);
  });

  it('writes canonical JSON with a final newline', () => {
    const tally = new ReportTally();
    tally.add(line(1), rejected('Z', 'A'));
    const report = tally.report(policy, LOG);
    const json = reportJson(report);
    expect(json).toBe(`${canonicalJson(report)}\n`);
    expect(json.startsWith('{"differences":')).toBe(true);
    expect(JSON.parse(json)).toEqual(report);
  });
});
