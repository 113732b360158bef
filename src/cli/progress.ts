import { MultiBar, Presets } from 'cli-progress';

/** Progress of long commands, one bar per named piece of work (a projection). */
export interface Progress {
  /** `name` has reached `position` of `target`. Cheap: call it as often as work advances. */
  update(name: string, position: number, target: number): void;
  /** Draws the final state and releases the terminal line. */
  stop(): void;
}

/** The stream progress is drawn on: stderr, or a stand-in in tests. */
export type ProgressStream = NodeJS.WritableStream & { isTTY?: boolean; columns?: number };

/** How often a bar takes a new value, at most: the work loop is never slowed by drawing. */
export const PROGRESS_INTERVAL_MS = 200;

const silent: Progress = { update: () => undefined, stop: () => undefined };

/**
 * Progress bars on `stream` (stderr by default) when it is a terminal; nothing at all otherwise,
 * so logs and pipes get only the command's result. A bar takes a value at most every
 * `intervalMs` (and always its last one), and cli-progress redraws on its own timer.
 */
export function progressOnTerminal(
  options: { stream?: ProgressStream; intervalMs?: number; labelWidth?: number } = {},
): Progress {
  const { stream = process.stderr, intervalMs = PROGRESS_INTERVAL_MS, labelWidth = 0 } = options;
  if (stream.isTTY !== true) return silent;
  const bars = new MultiBar(
    {
      stream,
      format: '{name} [{bar}] {percentage}% | {value}/{total} events | {duration_formatted}',
      // No handlers of their own: Ctrl-C must still end the command at once.
      gracefulExit: false,
      hideCursor: false,
      clearOnComplete: false,
      stopOnComplete: false,
    },
    Presets.shades_classic,
  );
  let stopped = false;
  const shown = new Map<string, { bar: ReturnType<MultiBar['create']>; at: number }>();
  return {
    update(name, position, target) {
      if (stopped) return;
      const now = performance.now();
      const entry = shown.get(name);
      if (entry === undefined) {
        const label = name.padEnd(labelWidth);
        shown.set(name, { bar: bars.create(target, position, { name: label }), at: now });
        return;
      }
      if (now - entry.at < intervalMs && position < target) return;
      entry.at = now;
      entry.bar.setTotal(target);
      entry.bar.update(position);
    },
    stop() {
      // Idempotent, and silent when nothing was drawn (cli-progress would print a blank line).
      if (stopped || shown.size === 0) return;
      stopped = true;
      bars.stop();
    },
  };
}
