import { randomBytes } from 'node:crypto';
import { sql, type Kysely } from 'kysely';
import type { Projection as PureProjection } from '../../projections/projection.ts';
import { LedgerError } from '../errors.ts';
import type { EventStore, Position } from '../store/port.ts';
import { ProjectionRunner } from '../subscriptions/projection-runner.ts';
import { sharedLog } from './shared-log.ts';
import { sqlReadModel, type AnyTables } from './sql-read-model.ts';

/**
 * Events per transaction when rebuilding: larger than live batches (which favour latency), so a
 * mission's row is rewritten fewer times. Measured at 1M events, mission_state alone: 2,000 took
 * 28.6 s, 10,000 24.4 s.
 */
export const REBUILD_BATCH_SIZE = 10_000;
/** Events per read of the log, shared by the projections of a rebuild. */
const REBUILD_PAGE_SIZE = 2_000;
/** Rows cached per projection when rebuilding: the missions in flight, not the whole history. */
export const REBUILD_CACHED_ROWS = 10_000;

/** A fresh schema name next to `schema` for a rebuild or a verification (`<schema>_<purpose>_<hex>`). */
export function scratchSchemaName(schema: string, purpose: 'verify' | 'rebuild'): string {
  return `${schema.slice(0, 40)}_${purpose}_${randomBytes(4).toString('hex')}`;
}

export async function dropSchema(db: Kysely<unknown>, schema: string): Promise<void> {
  await sql`drop schema if exists ${sql.id(schema)} cascade`.execute(db);
}

/** True on PGlite: one connection, so nothing may wait on another connection while holding it. */
export async function isEmbedded(db: Kysely<unknown>): Promise<boolean> {
  const { rows } = await sql<{ version: string }>`select version() as version`.execute(db);
  return rows[0]?.version.includes('wasm') === true;
}

/**
 * Runs several projections to their positions at once ({@link runProjectionTo}) over one shared
 * read of the log: each page is read and parsed once for all of them. Settles when all have,
 * with each one's outcome in `targets` order.
 */
export async function runProjectionsTo(options: {
  store: EventStore;
  db: Kysely<unknown>;
  schema: string;
  targets: readonly { pure: PureProjection<AnyTables>; until: Position }[];
  batchSize?: number;
  onProgress?: (projection: string, position: Position, target: Position) => void;
}): Promise<PromiseSettledResult<Position>[]> {
  const store = sharedLog(options.store, { pageSize: REBUILD_PAGE_SIZE });
  return Promise.allSettled(
    options.targets.map(({ pure, until }) =>
      runProjectionTo({
        store,
        db: options.db,
        schema: options.schema,
        pure,
        until,
        ...(options.batchSize === undefined ? {} : { batchSize: options.batchSize }),
        onProgress: (position, target) => options.onProgress?.(pure.name, position, target),
      }),
    ),
  );
}

/**
 * Applies `pure` to its tables in `schema` (created if missing) from that schema's checkpoint up
 * to `until` (the log head at the time when absent), through the same runner and adapter as live
 * serving, then stops. Returns the position reached. Fails with PROJECTION_STALLED, naming the
 * event, when the projection cannot apply one.
 */
export async function runProjectionTo(options: {
  store: EventStore;
  db: Kysely<unknown>;
  schema: string;
  pure: PureProjection<AnyTables>;
  until?: Position;
  batchSize?: number;
  onProgress?: (position: Position, target: Position) => void;
}): Promise<Position> {
  const target = options.until ?? (await options.store.headPosition());
  const runner = new ProjectionRunner<unknown>({
    store: options.store,
    db: options.db,
    schema: options.schema,
    projection: sqlReadModel(options.pure, {
      withoutIndexes: true,
      maxCachedRows: REBUILD_CACHED_ROWS,
    }),
    batchSize: options.batchSize ?? REBUILD_BATCH_SIZE,
    stopAfter: target,
  });
  await runner.start();
  try {
    for (;;) {
      if (await runner.waitFor(target, 1_000)) break;
      const status = runner.status();
      options.onProgress?.(status.position, target);
      if (status.status === 'stalled') {
        throw new LedgerError(
          'PROJECTION_STALLED',
          `Rebuilding ${options.pure.name} stalled: ${status.error ?? 'unknown error'}`,
          { projection: options.pure.name, position: status.position, error: status.error },
        );
      }
    }
    options.onProgress?.(target, target);
    return target;
  } finally {
    await runner.stop();
  }
}
