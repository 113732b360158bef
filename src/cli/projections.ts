import { projectionNamed, pureProjections } from '../read-models/read-models.ts';
import { rebuildProjection } from '../read-models/rebuild.ts';
import { clearStalls, readCheckpoints } from '../read-models/checkpoints.ts';
import { openReadSide } from './open-read-side.ts';
import { progressOnTerminal } from './progress.ts';

/** `ledger projections rebuild NAME`: blue/green rebuild of one projection. */
export async function runRebuild(name: string): Promise<void> {
  const pure = projectionNamed(name);
  const side = await openReadSide();
  const progress = progressOnTerminal();
  try {
    const started = performance.now();
    const result = await rebuildProjection({
      store: side.store,
      db: side.db,
      schema: side.schema,
      pure,
      onProgress: (position, target) => progress.update(name, position, target),
    });
    progress.stop();
    const seconds = (performance.now() - started) / 1000;
    process.stdout.write(
      `rebuilt ${name} to position ${result.position} in ${seconds.toFixed(1)} s ` +
        `(${result.rounds} round${result.rounds === 1 ? '' : 's'}); swapped in as generation ${result.generation}\n`,
    );
  } finally {
    progress.stop();
    await side.close();
  }
}

/** `ledger projections status`: each projection's checkpoint against the log head. */
export async function runProjectionStatus(): Promise<void> {
  const side = await openReadSide();
  try {
    const head = await side.store.headPosition();
    const checkpoints = await readCheckpoints(
      side.db,
      side.schema,
      pureProjections.map((p) => p.name),
    );
    const width = Math.max(...pureProjections.map((p) => p.name.length));
    const lines = [`log head ${head}; read models in schema ${side.schema}`];
    for (const pure of pureProjections) {
      const c = checkpoints.get(pure.name);
      lines.push(
        c === undefined
          ? `  ${pure.name.padEnd(width)}  not built`
          : `  ${pure.name.padEnd(width)}  ${c.status.padEnd(8)} position ${c.position} (lag ${head - c.position})` +
              ` generation ${c.generation} version ${c.version}${c.error === null ? '' : `: ${c.error}`}`,
      );
    }
    process.stdout.write(`${lines.join('\n')}\n`);
  } finally {
    await side.close();
  }
}

/** `ledger projections retry NAME`: clears a stall, so the projector applies the parked event again. */
export async function runRetry(name: string): Promise<void> {
  projectionNamed(name);
  const side = await openReadSide();
  try {
    const before = (await readCheckpoints(side.db, side.schema, [name])).get(name);
    if (before?.status !== 'stalled') {
      process.stdout.write(
        `${name} is not stalled (${before?.status ?? 'not built'}): nothing to retry\n`,
      );
      return;
    }
    await clearStalls(side.db, side.schema, [name]);
    process.stdout.write(
      `${name}: stall at position ${before.position} cleared; the projector retries the parked event (watch: ledger projections status)\n`,
    );
  } finally {
    await side.close();
  }
}
