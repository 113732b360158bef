import { sql, type Kysely } from 'kysely';
import type { Projection as PureProjection } from '../../projections/projection.ts';
import { LedgerError } from '../errors.ts';
import type { EventStore, Position, StoredEvent } from '../store/port.ts';
import {
  createCheckpointRow,
  lockSetup,
  readCheckpoints,
} from '../subscriptions/checkpoint-tables.ts';
import { migrateCheckpointTables } from '../subscriptions/checkpoint-migrations.ts';
import { createReadModelTables, type AnyTables } from './read-model-tables.ts';
import { RowStore, writeStagedRows, type MissingRow, type StagedRows } from './row-store.ts';

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
  pure: PureProjection<AnyTables>;
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

interface TargetState {
  pure: PureProjection<AnyTables>;
  until: Position;
  rows: RowStore;
  /** Last event applied (staged). */
  position: Position;
  /** Last position whose rows are committed, with the checkpoint. */
  committed: Position;
  /** Why the projection could not apply an event (staged rows before it still commit). */
  failure: string | undefined;
  /** The failure is in the checkpoint. */
  failureRecorded: boolean;
  /**
   * Prefetch the next page's rows. On while prefetching finds rows no layer holds or the fold
   * misses some; off while neither happens (a rebuild from position 0 creates nearly every row it
   * looks up, so asking the prefetch hints about every event costs a few percent for nothing).
   */
  prefetch: boolean;
}

/** One write: a projection's sealed rows and where its checkpoint moves. */
interface FlushPart {
  state: TargetState;
  staged: StagedRows;
  from: Position;
  to: Position;
}

/**
 * Brings the projections' tables in `schema` (created if missing: unlogged, without secondary
 * indexes) from their checkpoints there up to their `until` positions in one pass over the log,
 * for `ledger replay --verify` and `ledger projections rebuild`. Settles with each target's
 * outcome in `targets` order: the position reached, or PROJECTION_STALLED naming the event a
 * projection could not apply (the others go on).
 *
 * It runs the same pure folds through the same {@link RowStore} as live serving, but not the live
 * runner's batches: each page of the log is read once, every projection folds each event as it
 * passes, and only the rows changed are held. When enough rows are staged they are sealed and
 * written, each projection's rows with its checkpoint in a transaction of its own (all at once),
 * while the fold goes on with the next events; the next write waits for those. So the database writes while this process
 * folds, and a row changed many times between writes is written once.
 *
 * The checkpoint moves are compare-and-set: a second writer of the same schema makes this one fail
 * rather than interleave.
 */
export async function catchUpProjections(
  options: CatchUpOptions,
): Promise<PromiseSettledResult<Position>[]> {
  const { store, db, schema } = options;
  const flushRows = options.flushRows ?? CATCH_UP_FLUSH_ROWS * options.targets.length;
  const maxCachedRows = options.maxCachedRows ?? CATCH_UP_CACHED_ROWS;
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

  const states: TargetState[] = [];
  const outcomes = new Map<string, PromiseSettledResult<Position>>();
  for (const { pure, until } of options.targets) {
    const checkpoint = checkpoints.get(pure.name)!;
    const stalled = (message: string) =>
      outcomes.set(pure.name, {
        status: 'rejected',
        reason: stalledError(pure.name, checkpoint.position, message),
      });
    if (checkpoint.status === 'stalled') {
      stalled(checkpoint.error ?? 'stalled');
    } else if (checkpoint.version !== pure.version && checkpoint.position > 0) {
      stalled(
        `the tables were built by version ${checkpoint.version}; this is version ${pure.version}`,
      );
    } else {
      const rows = new RowStore(pure, { maxCachedRows });
      await rows.load(db, schema);
      states.push({
        pure,
        until,
        rows,
        position: checkpoint.position,
        committed: checkpoint.position,
        failure: undefined,
        failureRecorded: false,
        prefetch: true,
      });
    }
  }

  let writing: Promise<void> | undefined;
  /** Waits for the write in flight; its failure fails the whole catch-up. */
  const settleWrite = async () => {
    const pending = writing;
    writing = undefined;
    await pending;
  };
  const flush = async () => {
    await settleWrite();
    const parts: FlushPart[] = [];
    for (const state of states) {
      const failed = state.failure !== undefined && !state.failureRecorded;
      if (state.position === state.committed && state.rows.stagedCount === 0 && !failed) continue;
      parts.push({ state, staged: state.rows.seal(), from: state.committed, to: state.position });
    }
    if (parts.length === 0) return;
    // One transaction per projection (its rows with its checkpoint), all at once on the pool's
    // connections: the database writes the tables in parallel while this process folds on.
    const writes = parts.map(async (part) => {
      const { state, to } = part;
      try {
        await db.transaction().execute(async (trx) => {
          // A scratch copy is rebuilt, never recovered: no need to wait for the WAL flush.
          await sql`set local synchronous_commit = off`.execute(trx);
          await moveCheckpoint(trx, schema, part);
          await writeStagedRows(trx, schema, state.rows.names, part.staged);
        });
      } catch (error) {
        state.rows.rolledBack();
        throw error;
      }
      state.rows.committed();
      state.committed = to;
      if (state.failure !== undefined) state.failureRecorded = true;
      options.onProgress?.(state.pure.name, to, state.until);
    });
    const write = Promise.allSettled(writes).then((outcomes) => {
      for (const outcome of outcomes) if (outcome.status === 'rejected') throw outcome.reason;
    });
    write.catch(() => undefined); // awaited by the next flush; not unhandled meanwhile
    writing = write;
  };

  const active = () => states.filter((s) => s.failure === undefined && s.position < s.until);
  try {
    let after = Math.min(...active().map((s) => s.position));
    const end = Math.max(0, ...active().map((s) => s.until));
    let next = active().length > 0 ? readPage(store, after) : undefined;
    let sinceFlush = 0;
    while (next !== undefined) {
      const page = await next;
      const last = page.at(-1);
      next =
        page.length === PAGE_SIZE && last !== undefined && last.position < end
          ? readPage(store, last.position)
          : undefined;
      const running = active();
      if (running.length === 0) break;
      await Promise.all(
        running.map(async (state) => {
          if (!state.prefetch) return;
          const events = page.filter(
            (e) => e.position > state.position && e.position <= state.until,
          );
          const wanted = state.rows.wanted(events);
          state.prefetch = wanted.size > 0;
          for (const [table, keys] of wanted) await state.rows.fetch(db, schema, table, keys);
        }),
      );
      for (let i = 0; i < page.length; i += 1) {
        const event = page[i]!;
        // Let the garbage collector have each event once folded, not only once the whole page is:
        // fewer objects survive each young-generation collection (about a tenth less time in them).
        page[i] = undefined as unknown as StoredEvent;
        if (event.position > end) break;
        for (const state of running) {
          if (state.failure !== undefined || event.position <= state.position) continue;
          if (event.position > state.until) continue;
          if (state.pure.handles(event.type)) {
            // Only the fold's own errors stall the projection; a failed fetch fails the catch-up.
            let missing = stageOrFail(state, event);
            while (missing !== undefined && missing !== FAILED) {
              state.prefetch = true;
              await state.rows.fetch(db, schema, missing.table, [missing.key]);
              missing = stageOrFail(state, event);
            }
            if (missing === FAILED) continue;
          }
          state.position = event.position;
        }
        sinceFlush += 1;
        const staged = running.reduce((n, s) => n + s.rows.stagedCount, 0);
        if (staged >= flushRows || sinceFlush >= MAX_EVENTS_PER_FLUSH) {
          await flush();
          sinceFlush = 0;
        }
      }
      if (last !== undefined) after = last.position;
      if (page.length < PAGE_SIZE) {
        // The end of the log: nothing lies between a projection's position and its target.
        for (const state of active())
          state.position = Math.min(state.until, Math.max(state.position, after));
        break;
      }
    }
    await flush();
    await settleWrite();
  } catch (error) {
    await settleWrite().catch(() => undefined);
    throw error;
  }

  for (const state of states) {
    outcomes.set(
      state.pure.name,
      state.failure === undefined
        ? { status: 'fulfilled', value: state.committed }
        : {
            status: 'rejected',
            reason: stalledError(state.pure.name, state.committed, state.failure),
          },
    );
  }
  return options.targets.map(({ pure }) => outcomes.get(pure.name)!);
}

const FAILED = Symbol('failed');

/** Stages `event`, or records why the projection cannot apply it (then returns FAILED). */
function stageOrFail(
  state: TargetState,
  event: StoredEvent,
): MissingRow | typeof FAILED | undefined {
  try {
    return state.rows.stage(event);
  } catch (error) {
    state.failure = `${error instanceof Error ? error.message : String(error)} (position ${event.position})`;
    return FAILED;
  }
}

function stalledError(projection: string, position: Position, error: string): LedgerError {
  return new LedgerError('PROJECTION_STALLED', `Rebuilding ${projection} stalled: ${error}`, {
    projection,
    position,
    error,
  });
}

/** Compare-and-set of the checkpoint; a failure is recorded as the projection's stall. */
async function moveCheckpoint(
  trx: Kysely<unknown>,
  schema: string,
  part: FlushPart,
): Promise<void> {
  const { state, from, to } = part;
  const failure = state.failure;
  const result = await sql`
    update ${sql.table(`${schema}.projection_checkpoints`)}
       set position = ${to},
           status = ${failure === undefined ? 'stopped' : 'stalled'},
           error = ${failure ?? null}, updated_at = now()
     where name = ${state.pure.name} and position = ${from}`.execute(trx);
  if (Number(result.numAffectedRows ?? 0) !== 1) {
    throw new LedgerError(
      'PROJECTION_LAGGING',
      `The checkpoint of ${state.pure.name} in ${schema} moved: another process writes these tables.`,
      { projection: state.pure.name, schema },
    );
  }
}

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
