import { projectionNamed, pureProjections } from '../read-models/read-models.ts';
import type { TableComparison } from '../read-models/compare-tables.ts';
import { verifyReadModels, type VerifyReport } from '../read-models/verify.ts';
import { LedgerError } from '../errors.ts';
import { openReadSide } from './open-read-side.ts';
import { progressOnTerminal } from './progress.ts';
import { formatDecisions, replayDecisions } from './replay-decisions.ts';

export interface ReplayOptions {
  verify?: boolean;
  projection?: string[];
  json?: boolean;
  maxDifferences?: string;
  waitMs?: string;
}

/**
 * `ledger replay --verify`: rebuild every projection from position 0 into a scratch schema and
 * compare it with the live read model, then decide every recorded input again under the policy
 * and keys recorded with it; exit 1 on any difference, on a recorded decision not reproduced, on a
 * stalled or lagging live projection, or when there is nothing to compare.
 */
export async function runReplay(options: ReplayOptions): Promise<void> {
  if (options.verify !== true) {
    throw new Error('ledger replay needs --verify (rebuild into a scratch schema and compare).');
  }
  const selected =
    options.projection === undefined || options.projection.length === 0
      ? pureProjections
      : options.projection.map((name) => projectionNamed(name));
  const maxDifferences = Number(options.maxDifferences ?? '20');
  const waitMs = Number(options.waitMs ?? '10000');
  if (!Number.isSafeInteger(waitMs) || waitMs < 0) {
    throw new LedgerError('CONFIGURATION_INVALID', '--wait-ms must be a whole number of ms.');
  }
  const side = await openReadSide();
  const progress = progressOnTerminal({
    labelWidth: Math.max('decisions'.length, ...selected.map((p) => p.name.length)),
  });
  try {
    const started = performance.now();
    const report = await verifyReadModels({
      store: side.store,
      db: side.db,
      schema: side.schema,
      projections: selected,
      maxDifferences:
        Number.isSafeInteger(maxDifferences) && maxDifferences >= 0 ? maxDifferences : 20,
      catchUpWaitMs: waitMs,
      onProgress: (name, position, target) => progress.update(name, position, target),
    });
    // The log's own decisions: every recorded input decided again under its recorded policy.
    const decisions = await replayDecisions(side.store, {
      max: Number.isSafeInteger(maxDifferences) && maxDifferences >= 0 ? maxDifferences : 20,
      onProgress: (position, head) => progress.update('decisions', position, head),
    });
    progress.stop();
    const seconds = (performance.now() - started) / 1000;
    process.stdout.write(
      options.json === true
        ? `${JSON.stringify({ ...report, decisions }, null, 2)}\n`
        : formatReport(report, seconds) + formatDecisions(decisions),
    );
    if (!report.identical || decisions.differing > 0) process.exitCode = 1;
  } finally {
    progress.stop();
    await side.close();
  }
}

const short = (digest: string) => digest.slice(0, 16);
const plural = (n: number, noun: string) => `${n} ${noun}${n === 1 ? '' : 's'}`;
const json = (value: unknown) => {
  const text = JSON.stringify(value) ?? 'undefined';
  return text.length > 120 ? `${text.slice(0, 117)}...` : text;
};

/** The human report: one line per projection, and each differing row under its table. */
export function formatReport(report: VerifyReport, seconds: number): string {
  const lines = [
    `replay --verify: log head ${report.head}; read models in schema ${report.schema}; ${seconds.toFixed(1)} s`,
  ];
  const width = Math.max(...report.projections.map((p) => p.projection.length));
  for (const p of report.projections) {
    const name = p.projection.padEnd(width);
    const rows = p.tables.reduce((n, t) => n + t.live.rows, 0);
    switch (p.status) {
      case 'identical':
        lines.push(
          `  ${name}  identical       at position ${p.position} (${plural(p.tables.length, 'table')}, ${plural(rows, 'row')})`,
        );
        for (const t of p.tables) lines.push(`      ${t.sqlTable}  sha256 ${short(t.live.digest)}`);
        break;
      case 'not-built':
        lines.push(`  ${name}  NOT BUILT       no live checkpoint: start \`ledger serve\` first`);
        break;
      case 'rebuild-failed':
        lines.push(`  ${name}  REBUILD FAILED  ${p.error ?? ''}`);
        break;
      case 'stalled':
        lines.push(
          `  ${name}  STALLED         at position ${p.position}` +
            (p.parked === undefined
              ? `: ${p.live?.error ?? ''}`
              : `; parked event at position ${p.parked.position}: ${p.parked.error}`),
        );
        break;
      case 'lagging':
        lines.push(
          `  ${name}  LAGGING         at position ${p.position}, behind the log head ${report.head}`,
        );
        break;
      case 'different':
        lines.push(`  ${name}  DIFFERENT       at position ${p.position}`);
        if (p.live !== null && p.live.version !== p.version) {
          lines.push(
            `      the live tables were built by version ${p.live.version}; the code is version ${p.version}`,
          );
        }
        for (const t of p.tables.filter((x) => !x.identical)) lines.push(...tableLines(t));
        break;
    }
  }
  const same = report.projections.filter((p) => p.status === 'identical').length;
  lines.push(
    report.identical
      ? `identical: all ${same} projections equal their rebuild`
      : `NOT identical: ${same} of ${report.projections.length} projections equal their rebuild`,
  );
  return `${lines.join('\n')}\n`;
}

function tableLines(t: TableComparison): string[] {
  const lines = [
    `      ${t.sqlTable}: ${t.differenceCount} ${t.differenceCount === 1 ? 'row differs' : 'rows differ'}` +
      ` (live ${t.live.rows} rows sha256 ${short(t.live.digest)}, rebuilt ${t.rebuilt.rows} rows sha256 ${short(t.rebuilt.digest)})`,
  ];
  for (const d of t.differences) {
    if (d.kind === 'changed') {
      const columns = d.columns ?? [];
      const live = d.live as Record<string, unknown>;
      const rebuilt = d.rebuilt as Record<string, unknown>;
      lines.push(`        changed     key ${d.key}: ${columns.join(', ')}`);
      for (const c of columns.slice(0, 5)) {
        lines.push(`          ${c}: live ${json(live[c])}, rebuilt ${json(rebuilt[c])}`);
      }
    } else if (d.kind === 'unexpected') {
      lines.push(`        unexpected  key ${d.key}: in the live table, not in the rebuild`);
    } else {
      lines.push(`        missing     key ${d.key}: in the rebuild, not in the live table`);
    }
  }
  if (t.differenceCount > t.differences.length) {
    lines.push(`        ... and ${t.differenceCount - t.differences.length} more`);
  }
  return lines;
}
