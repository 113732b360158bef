import type { Kysely } from 'kysely';
import type { ProjectionFold } from '../../projections/projection.ts';
import { LedgerError } from '../errors.ts';
import type { EventStore, Position, StoredEvent } from '../store/port.ts';
import {
  createCheckpointRow,
  lockSetup,
  moveCheckpointWithWrites,
  readCheckpoints,
} from './checkpoints.ts';
import { migrateCheckpointTables } from './checkpoint-migrations.ts';
import { createReadModelTables, type AnyTables } from './read-model-tables.ts';
import { ProjectionSet } from './projection-set.ts';

/** Events per read of the log. */
const PAGE_SIZE = 2000;
/**
 * Rows staged per projection before they are written (all projections' rows are written at once,
 * when their sum reaches this times the number of projections). A key is written once per write
 * however often it changed, so the larger this is, the fewer times a row is rewritten: from 2,000
 * to 4,000 per projection took a tenth off rebuilding all five. It bounds the memory of the two
 * layers in flight (staged, and sealed while being written): 20,000 rows of mission_state alone
 * took its rebuild past 400 MB.
 */
export const CATCH_UP_FLUSH_ROWS = 4_000;
/** Events between writes at most, so the checkpoints move even when few rows change. */
const MAX_EVENTS_PER_FLUSH = 200_000;
/** Rows cached per projection: the missions in flight, not the whole history. */
export const CATCH_UP_CACHED_ROWS = 2_000;

export interface CatchUpTarget {
  pure: ProjectionFold<AnyTables>;
  /** Apply events up to and including this position. */
  until: Position;
}

export interface CatchUpOptions {
  store: EventStore;
  db: Kysely<unknown>;
  /** A schema this catch-up owns (a scratch schema): nothing else writes its tables meanwhile. */
  schema: string;
  targets: readonly CatchUpTarget[];
  /** Rows staged over all projections before a write. Default {@link CATCH_UP_FLUSH_ROWS} per projection. */
  flushRows?: number;
  /** Rows cached per projection; see {@link CATCH_UP_CACHED_ROWS}. */
  maxCachedRows?: number;
  /** Called after each write, per projection. */
  onProgress?: (projection: string, position: Position, target: Position) => void;
}

/**
 * Brings the projections' tables in `schema` (created if missing: unlogged, without secondary
 * indexes) from their checkpoints there up to their `until` positions in one pass over the log,
 * for `ledger replay --verify` and `ledger projections rebuild`. Settles with each target's
 * outcome in `targets` order: the position reached, or PROJECTION_STALLED naming the event a
 * projection could not apply (the others go on).
 *
 * It is the live engine's {@link ProjectionSet} (the same folds, row stores and row writes) fed
 * page by page: each page of the log is read once and folded into every projection. It flushes
 * when enough rows are staged rather than per batch, so a row changed many times between flushes
 * is written once, and each flush is written while the fold goes on with the next events (each
 * projection's rows with its checkpoint in a transaction of its own, all at once on the pool's
 * connections); the next flush waits for it.
 *
 * The checkpoint moves are compare-and-set: a second writer of the same schema makes this one fail
 * rather than interleave.
 */
export async function catchUpProjections(
  options: CatchUpOptions,
): Promise<PromiseSettledResult<Position>[]> {
  const { store, db, schema } = options;
  const flushRows = options.flushRows ?? CATCH_UP_FLUSH_ROWS * options.targets.length;
  const names = options.targets.map((t) => t.pure.name);
  if (new Set(names).size !== names.length) {
    throw new LedgerError('CONFIGURATION_INVALID', `Projections named twice: ${names.join(', ')}.`);
  }

  await migrateCheckpointTables(db, schema);
  const checkpoints = await db.transaction().execute(async (trx) => {
    await lockSetup(trx, schema);
    for (const { pure } of options.targets) {
      await createCheckpointRow(trx, schema, pure.name, pure.version);
      await createReadModelTables(trx, schema, pure, { withoutIndexes: true, unlogged: true });
    }
    return readCheckpoints(trx, schema, names);
  });

  const set = new ProjectionSet(
    options.targets.map((t) => t.pure),
    { db, schema, maxCachedRows: options.maxCachedRows ?? CATCH_UP_CACHED_ROWS, status: 'stopped' },
  );
  options.targets.forEach(({ pure, until }, i) => {
    const lane = set.lanes[i]!;
    const checkpoint = checkpoints.get(pure.name)!;
    set.resetTo(lane, checkpoint, until);
    if (checkpoint.version !== pure.version && checkpoint.position > 0 && !lane.stalled) {
      lane.stalled = {
        error: `the tables were built by version ${checkpoint.version}; this is version ${pure.version}`,
      };
    }
  });

  // An event stages a few rows per projection: a slice stages about a quarter of the threshold.
  const sliceEvents = Math.max(
    1,
    Math.min(MAX_SLICE_EVENTS, Math.floor(flushRows / (4 * Math.max(1, set.lanes.length)))),
  );
  let writing: Promise<void> | undefined;
  /** Waits for the write in flight; its failure fails the whole catch-up. */
  const settleWrite = async () => {
    const pending = writing;
    writing = undefined;
    await pending;
  };
  const flush = async () => {
    await settleWrite();
    const writes = set.seal();
    if (writes.length === 0) return;
    const done = writes.map(async (write) => {
      try {
        await moveCheckpointWithWrites(db, schema, write.move);
      } catch (error) {
        set.rolledBack(write);
        throw error;
      }
      set.committed(write);
      options.onProgress?.(write.lane.fold.name, write.move.to, write.lane.until);
    });
    const write = Promise.allSettled(done).then((outcomes) => {
      for (const outcome of outcomes) if (outcome.status === 'rejected') throw outcome.reason;
    });
    write.catch(() => undefined); // awaited by the next flush; not unhandled meanwhile
    writing = write;
  };

  try {
    const running = set.running();
    const end = Math.max(0, ...running.map((lane) => lane.until));
    let next =
      running.length > 0 ? readPage(store, Math.min(...running.map((l) => l.position))) : undefined;
    let sinceFlush = 0;
    while (next !== undefined) {
      const page = await next;
      const last = page.at(-1);
      next =
        page.length === PAGE_SIZE && last !== undefined && last.position < end
          ? readPage(store, last.position)
          : undefined;
      if (set.running().length === 0) break;
      // Folded in slices between checks of the flush threshold, so staged rows stay near it.
      for (let from = 0; from < page.length;) {
        const slice = page.slice(from, from + sliceEvents);
        from += slice.length;
        await set.fold(slice);
        // Let the garbage collector have the events once folded, not only once the whole page is.
        page.fill(undefined as unknown as StoredEvent, from - slice.length, from);
        sinceFlush += slice.length;
        if (set.stagedCount >= flushRows || sinceFlush >= MAX_EVENTS_PER_FLUSH) {
          await flush();
          sinceFlush = 0;
        }
      }
      if (page.length < PAGE_SIZE) {
        // The end of the log: nothing lies between a projection's position and its target.
        if (last !== undefined) set.reached(last.position);
        break;
      }
    }
    await flush();
    await settleWrite();
  } catch (error) {
    await settleWrite().catch(() => undefined);
    throw error;
  }

  return set.lanes.map((lane) =>
    lane.stalled === undefined
      ? { status: 'fulfilled', value: lane.committed }
      : {
          status: 'rejected',
          reason: new LedgerError(
            'PROJECTION_STALLED',
            `Rebuilding ${lane.fold.name} stalled: ${lane.stalled.error}`,
            { projection: lane.fold.name, position: lane.committed, error: lane.stalled.error },
          ),
        },
  );
}

/** Most events folded between checks of the staged rows against the flush threshold. */
const MAX_SLICE_EVENTS = 100;

/** A page of the log after `after`, checked for holes where positions are dense. */
function readPage(store: EventStore, after: Position): Promise<StoredEvent[]> {
  const page = store.readAll({ after, limit: PAGE_SIZE }).then((events) => {
    if (store.capabilities.densePositions) {
      events.forEach((event, i) => {
        if (event.position !== after + i + 1) {
          throw new LedgerError(
            'LOG_INTEGRITY_VIOLATION',
            `The log has a hole: position ${after + i + 1} is missing.`,
            { expected: after + i + 1, found: event.position },
          );
        }
      });
    }
    return events;
  });
  page.catch(() => undefined); // awaited in order; not unhandled while an earlier page is folded
  return page;
}
