import type { TraceLine } from '../../schemas/trace.ts';
import { canonicalJson } from '../audit/canonical-json.ts';
import type { ActivePolicy } from '../policy/active-policy.ts';

/** What the simulation made of one input. */
export interface SimulatedInput {
  /**
   * `skipped`: a `policy.activate` line, not applied (the simulated policy stays in force).
   * A replayed rejection (same key, same input) is `rejected`, as its sender is answered.
   */
  outcome: 'accepted' | 'rejected' | 'duplicate' | 'skipped';
  /** Reason codes of a rejection, in order, as the log records them; empty otherwise. */
  reasons: string[];
  /** The findings of the policy decision recorded for the input (none when nothing was decided). */
  findings: readonly { rule: string; code: string; mode: string; effect: string }[];
}

/** An input whose simulated outcome or reason codes differ from the trace's `recorded`. */
export interface Difference {
  seq: number;
  kind: TraceLine['kind'];
  target: string | null;
  recorded: { outcome: string; reasons: string[] };
  simulated: { outcome: string; reasons: string[] };
}

/** The simulation report, written as RFC 8785 canonical JSON (docs/simulation.md). */
export interface SimulationReport {
  report: 'mission-ledger.simulation.v1';
  policy: {
    profile: { id: string; digest: string };
    environment: string;
    override: 'warn' | null;
  };
  inputs: number;
  outcomes: { accepted: number; rejected: number; duplicate: number; skipped: number };
  /** rejected / (accepted + rejected + duplicate), rounded to 6 decimals; 0 with no input. */
  rejection_ratio: number;
  /** Fired findings by rule, reason code, mode and effect, sorted by those keys. */
  findings: { rule: string; code: string; mode: string; effect: string; count: number }[];
  /** Reason codes of rejected inputs, by code: each code counted once per input. */
  reasons: Record<string, number>;
  differences: {
    /** Inputs that carry `recorded` and were not skipped. */
    compared: number;
    count: number;
    /** The first {@link MAX_LISTED_DIFFERENCES}, in trace order. */
    listed: Difference[];
  };
  log: { events: number; sha256: string };
}

/** Differences listed in a report; beyond them only the count grows. */
export const MAX_LISTED_DIFFERENCES = 1000;

const sameCodes = (a: readonly string[], b: readonly string[]) =>
  a.length === b.length && a.every((code, i) => code === b[i]);

/**
 * Counts a simulation input by input. Pure and in memory bounded by the number of distinct
 * (rule, code, mode, effect) and reason codes, plus at most 1000 listed differences.
 */
export class ReportTally {
  private inputs = 0;
  private readonly outcomes = { accepted: 0, rejected: 0, duplicate: 0, skipped: 0 };
  private readonly findings = new Map<string, number>();
  private readonly reasons = new Map<string, number>();
  private compared = 0;
  private differenceCount = 0;
  private readonly listed: Difference[] = [];

  /** Adds one input and what the simulation made of it. */
  add(line: TraceLine, simulated: SimulatedInput): void {
    this.inputs += 1;
    this.outcomes[simulated.outcome] += 1;
    for (const f of simulated.findings) {
      const key = canonicalJson([f.rule, f.code, f.mode, f.effect]);
      this.findings.set(key, (this.findings.get(key) ?? 0) + 1);
    }
    if (simulated.outcome === 'rejected') {
      for (const code of new Set(simulated.reasons)) {
        this.reasons.set(code, (this.reasons.get(code) ?? 0) + 1);
      }
    }
    const { recorded } = line;
    if (recorded === undefined || simulated.outcome === 'skipped') return;
    this.compared += 1;
    if (recorded.outcome === simulated.outcome && sameCodes(recorded.reasons, simulated.reasons))
      return;
    this.differenceCount += 1;
    if (this.listed.length >= MAX_LISTED_DIFFERENCES) return;
    this.listed.push({
      seq: line.seq,
      kind: line.kind,
      target: line.target ?? null,
      recorded: { outcome: recorded.outcome, reasons: [...recorded.reasons] },
      simulated: { outcome: simulated.outcome, reasons: [...simulated.reasons] },
    });
  }

  /** The report, given the policy simulated and the digest of the simulated log. */
  report(policy: ActivePolicy, log: { events: number; sha256: string }): SimulationReport {
    const { accepted, rejected, duplicate } = this.outcomes;
    const decided = accepted + rejected + duplicate;
    const findings = [...this.findings]
      .map(([key, count]) => {
        const [rule, code, mode, effect] = JSON.parse(key) as [string, string, string, string];
        return { rule, code, mode, effect, count };
      })
      .sort((a, b) => compareText(canonicalJson(rowKey(a)), canonicalJson(rowKey(b))));
    const reasons = Object.fromEntries([...this.reasons].sort(([a], [b]) => compareText(a, b)));
    return {
      report: 'mission-ledger.simulation.v1',
      policy: {
        profile: { id: policy.profile.id, digest: policy.digest },
        environment: policy.environment,
        override: policy.override,
      },
      inputs: this.inputs,
      outcomes: { ...this.outcomes },
      rejection_ratio: decided === 0 ? 0 : Math.round((rejected / decided) * 1e6) / 1e6,
      findings,
      reasons,
      differences: { compared: this.compared, count: this.differenceCount, listed: this.listed },
      log,
    };
  }
}

const rowKey = (row: { rule: string; code: string; mode: string; effect: string }) => [
  row.rule,
  row.code,
  row.mode,
  row.effect,
];

/** Code-unit order, as RFC 8785 sorts keys: the same on every machine and locale. */
const compareText = (a: string, b: string) => (a < b ? -1 : a > b ? 1 : 0);

/** The report as written to a file: RFC 8785 canonical JSON and a final newline. */
export function reportJson(report: SimulationReport): string {
  return `${canonicalJson(report)}\n`;
}

/** The report for a terminal: the counts, the rules that fired and the first differences. */
export function reportText(report: SimulationReport, maxDifferences = 20): string {
  const { policy, outcomes, differences } = report;
  const override = policy.override === null ? '' : `, override ${policy.override}`;
  const lines = [
    `simulated ${report.inputs} inputs under ${policy.profile.id} (sha256 ${policy.profile.digest}) in ${policy.environment}${override}`,
    `outcomes: ${outcomes.accepted} accepted, ${outcomes.rejected} rejected, ${outcomes.duplicate} duplicate, ${outcomes.skipped} skipped (policy.activate)`,
    `rejection ratio: ${report.rejection_ratio}`,
  ];
  if (report.findings.length > 0) {
    lines.push('findings (rule code mode effect: count):');
    for (const f of report.findings)
      lines.push(`  ${f.rule} ${f.code} ${f.mode} ${f.effect}: ${f.count}`);
  }
  const reasons = Object.entries(report.reasons);
  if (reasons.length > 0) {
    lines.push('rejections by reason code:');
    for (const [code, count] of reasons) lines.push(`  ${code}: ${count}`);
  }
  lines.push(
    `differences from recorded outcomes: ${differences.count} of ${differences.compared} compared`,
  );
  for (const d of differences.listed.slice(0, maxDifferences)) {
    const target = d.target === null ? '' : ` ${d.target}`;
    const show = (o: { outcome: string; reasons: string[] }) =>
      o.reasons.length === 0 ? o.outcome : `${o.outcome} ${o.reasons.join(',')}`;
    lines.push(
      `  seq ${d.seq} ${d.kind}${target}: recorded ${show(d.recorded)}, simulated ${show(d.simulated)}`,
    );
  }
  if (differences.count > maxDifferences) {
    lines.push(`  ... ${differences.count - maxDifferences} more (in the JSON report)`);
  }
  lines.push(`log: ${report.log.events} events, sha256 ${report.log.sha256}`);
  return `${lines.join('\n')}\n`;
}
