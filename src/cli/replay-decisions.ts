import { DecisionReplayer, type DecisionDifference } from '../domain/mission/redecide.ts';
import type { EventStore, Position } from '../store/port.ts';

/** Events per read of the log. */
const PAGE = 2_000;

/** What deciding the log's inputs again found. */
export interface DecisionReport {
  /** Decisions decided again. */
  checked: number;
  /** Every recorded decision that was not reproduced (at most `max`, counted in `differing`). */
  differences: DecisionDifference[];
  differing: number;
  head: Position;
}

/**
 * Reads the whole log once, in position order, and decides every recorded input again under the
 * policy and keys recorded with it ({@link DecisionReplayer}).
 */
export async function replayDecisions(
  store: EventStore,
  options: { max?: number; onProgress?: (position: Position, head: Position) => void } = {},
): Promise<DecisionReport> {
  const head = await store.headPosition();
  const replayer = new DecisionReplayer();
  const differences: DecisionDifference[] = [];
  let differing = 0;
  let after = 0;
  while (after < head) {
    const page = await store.readAll({ after, limit: PAGE });
    if (page.length === 0) break;
    for (const event of page) {
      if (event.position > head) break;
      const difference = replayer.observe(event);
      if (difference === undefined) continue;
      differing += 1;
      if (differences.length < (options.max ?? 20)) differences.push(difference);
    }
    after = page.at(-1)!.position;
    options.onProgress?.(Math.min(after, head), head);
  }
  return { checked: replayer.checked, differences, differing, head };
}

/** The human lines of a decision report. */
export function formatDecisions(report: DecisionReport): string {
  if (report.differing === 0) {
    return `decisions: all ${report.checked} recorded decisions reproduced (log head ${report.head})\n`;
  }
  const lines = [
    `decisions: ${report.differing} of ${report.checked} recorded decisions NOT reproduced (log head ${report.head})`,
  ];
  for (const d of report.differences) {
    const decided =
      d.decided === undefined
        ? ''
        : `; decided again: ${d.decided.type} ${d.decided.outcome ?? ''} [${d.decided.reasons.join(', ')}]`;
    lines.push(
      `  position ${d.position} (${d.type} in ${d.stream}): ${d.problem}; recorded: ${d.recorded.type} ${d.recorded.outcome ?? ''} [${d.recorded.reasons.join(', ')}]${decided}`,
    );
  }
  return `${lines.join('\n')}\n`;
}
