import { sql, type Kysely } from 'kysely';
import type { ProjectionFold } from '../../projections/projection.ts';
import { isLedgerError, LedgerError } from '../errors.ts';
import type { EventStore, Position } from '../store/port.ts';
import { readCheckpoints, type CheckpointRow } from './checkpoints.ts';
import { compareReadModels, type TableComparison } from './compare-tables.ts';
import { catchUpProjections } from './catch-up.ts';
import { dropSchema, isEmbedded, scratchSchemaName } from './scratch.ts';
import type { AnyTables } from './read-model-tables.ts';

export interface VerifyOptions {
  store: EventStore;
  /** Where the live read models are. */
  db: Kysely<unknown>;
  schema: string;
  projections: readonly ProjectionFold<AnyTables>[];
  /** Differing rows reported per table (all are counted). Default 20. */
  maxDifferences?: number;
  /** Rows staged before each write of the scratch copies (see `catchUpProjections`). */
  flushRows?: number;
  onProgress?: (projection: string, position: Position, target: Position) => void;
  /**
   * Longest wait, in milliseconds, for the live projections to reach the log head read when the
   * comparison point is pinned; one still behind it then is `lagging`. Default 10,000.
   */
  catchUpWaitMs?: number;
}

/**
 * - `identical`: every table's rows (and so its digest) equal the rebuild's;
 * - `different`: some rows differ, named in `tables`;
 * - `not-built`: the live read model has no checkpoint, so there is nothing to compare;
 * - `stalled`: the live projection is stalled (see `live.error` and `parked`): not compared;
 * - `lagging`: the live checkpoint (`position`) is behind the log head the comparison was pinned
 *   at (`VerifyReport.head`), after waiting `catchUpWaitMs` for it: not compared;
 * - `rebuild-failed`: replaying the log into the scratch schema stalled (see `error`).
 *
 * Only `identical` passes.
 */
export type VerificationStatus =
  'identical' | 'different' | 'not-built' | 'stalled' | 'lagging' | 'rebuild-failed';

export interface ProjectionVerification {
  projection: string;
  status: VerificationStatus;
  /** The log position both copies were compared at: the live checkpoint. */
  position: Position;
  /** The live projection's own state (a stalled projection is compared at its checkpoint). */
  live: { status: string; version: number; error: string | null } | null;
  /** The code's projection version: a live model built by another version will differ. */
  version: number;
  tables: TableComparison[];
  error?: string;
  /** For `stalled`: the first event parked past the live checkpoint, when one is recorded. */
  parked?: { position: Position; error: string };
}

export interface VerifyReport {
  identical: boolean;
  /** The log head read when the comparison point was pinned: every live checkpoint must reach it. */
  head: Position;
  schema: string;
  projections: ProjectionVerification[];
}

/** Rounds of "rebuild up to the live position, then check it did not move" on PGlite. */
const EMBEDDED_ROUNDS = 5;
/** Default of {@link VerifyOptions.catchUpWaitMs}. */
const CATCH_UP_WAIT_MS = 10_000;
/** How often the live checkpoints are read while waiting for them to reach the head. */
const POLL_MS = 50;

/**
 * `ledger replay --verify`: rebuilds every projection from position 0 into a scratch schema with
 * the same pure folds and row store as live serving ({@link catchUpProjections}, one pass over the
 * log for all of them), and compares each table, row by row and by digest,
 * with the live one at exactly the live checkpoint.
 *
 * A live projection must have caught up to be verified: the log head is read, the live
 * checkpoints get up to `catchUpWaitMs` to reach it, and at the pinned point a stalled projection
 * fails as `stalled` (with the event it parked) and one still behind that head as `lagging`.
 *
 * The live engine keeps moving, so the comparison point is pinned: the scratch copies are first
 * rebuilt up to the live checkpoints without locks, then (on PostgreSQL) the live checkpoint rows
 * are locked `for update` — which holds the live engine before its next batch, never appends or
 * reads — the scratch copies catch up the last few events, and both sides are read in that
 * transaction. On PGlite one process owns the database and no live engine can move meanwhile.
 * The scratch schema is always dropped.
 */
export async function verifyReadModels(options: VerifyOptions): Promise<VerifyReport> {
  const { db, schema, store } = options;
  const names = options.projections.map((p) => p.name);
  const scratch = scratchSchemaName(schema, 'verify');
  const failed = new Map<string, string>();
  const waitMs = options.catchUpWaitMs ?? CATCH_UP_WAIT_MS;

  /** Whether a live checkpoint can be compared at `head`: built, not stalled, not behind. */
  const comparable = (checkpoint: CheckpointRow | undefined, head: Position) =>
    checkpoint !== undefined && checkpoint.status !== 'stalled' && checkpoint.position >= head;

  /** Polls the live checkpoints until none that could move is behind `head`, or time is up. */
  const waitForLive = async (head: Position) => {
    const deadline = performance.now() + waitMs;
    for (;;) {
      const live = await readCheckpoints(db, schema, names);
      const behind = [...live.values()].some((c) => c.status !== 'stalled' && c.position < head);
      if (!behind || performance.now() >= deadline) return;
      await new Promise((resolve) => setTimeout(resolve, POLL_MS));
    }
  };

  /** Builds the scratch copies up to `targets`; with `head`, only those comparable at it. */
  const rebuildTo = async (targets: ReadonlyMap<string, CheckpointRow>, head?: Position) => {
    const runs = options.projections.flatMap((pure) => {
      const target = targets.get(pure.name);
      const skip =
        target === undefined ||
        target.status === 'stalled' ||
        failed.has(pure.name) ||
        (head !== undefined && !comparable(target, head));
      return skip ? [] : [{ pure, until: target.position }];
    });
    const outcomes = await catchUpProjections({
      store,
      db,
      schema: scratch,
      targets: runs,
      ...(options.flushRows === undefined ? {} : { flushRows: options.flushRows }),
      ...(options.onProgress === undefined ? {} : { onProgress: options.onProgress }),
    });
    outcomes.forEach((outcome, i) => {
      if (outcome.status === 'fulfilled') return;
      const error: unknown = outcome.reason;
      if (!isLedgerError(error, 'PROJECTION_STALLED')) throw error;
      failed.set(runs[i]!.pure.name, error.message);
    });
  };

  const compare = async (
    reader: Kysely<unknown>,
    live: ReadonlyMap<string, CheckpointRow>,
    head: Position,
  ): Promise<ProjectionVerification[]> => {
    const out: ProjectionVerification[] = [];
    for (const pure of options.projections) {
      const checkpoint = live.get(pure.name);
      const base = {
        projection: pure.name,
        position: checkpoint?.position ?? 0,
        live:
          checkpoint === undefined
            ? null
            : { status: checkpoint.status, version: checkpoint.version, error: checkpoint.error },
        version: pure.version,
      };
      const error = failed.get(pure.name);
      if (checkpoint === undefined) {
        out.push({ ...base, status: 'not-built', tables: [] });
      } else if (checkpoint.status === 'stalled') {
        const parked = await firstParked(reader, schema, pure.name, checkpoint.position);
        out.push({ ...base, status: 'stalled', tables: [], ...(parked ? { parked } : {}) });
      } else if (checkpoint.position < head) {
        out.push({ ...base, status: 'lagging', tables: [] });
      } else if (error !== undefined) {
        out.push({ ...base, status: 'rebuild-failed', tables: [], error });
      } else {
        const tables = await compareReadModels(
          reader,
          schema,
          scratch,
          pure,
          options.maxDifferences ?? 20,
        );
        const identical = tables.every((t) => t.identical);
        out.push({ ...base, status: identical ? 'identical' : 'different', tables });
      }
    }
    return out;
  };

  try {
    let results: ProjectionVerification[] | undefined;
    let head = 0;
    if (await isEmbedded(db)) {
      for (let round = 0; round < EMBEDDED_ROUNDS && results === undefined; round += 1) {
        head = await store.headPosition();
        await waitForLive(head);
        const targets = await readCheckpoints(db, schema, names);
        await rebuildTo(targets);
        const now = await readCheckpoints(db, schema, names);
        if (names.every((n) => now.get(n)?.position === targets.get(n)?.position)) {
          results = await compare(db, now, head);
        }
      }
      if (results === undefined) {
        throw new LedgerError(
          'PROJECTION_LAGGING',
          'The live read models kept moving; stop the other projectors and retry.',
        );
      }
    } else {
      head = await store.headPosition();
      await waitForLive(head);
      await rebuildTo(await readCheckpoints(db, schema, names));
      const pinnedAt = head;
      results = await db.transaction().execute(async (trx) => {
        const pinned = await readCheckpoints(trx, schema, names, { forUpdate: true });
        // The catch-up uses other connections of the pool; only what will be compared.
        await rebuildTo(pinned, pinnedAt);
        return compare(trx, pinned, pinnedAt);
      });
    }
    return {
      identical: results.every((r) => r.status === 'identical'),
      head,
      schema,
      projections: results,
    };
  } finally {
    await dropSchema(db, scratch);
  }
}

/** The first event of `name` parked after `after`: what stalls it. */
async function firstParked(
  db: Kysely<unknown>,
  schema: string,
  name: string,
  after: Position,
): Promise<{ position: Position; error: string } | undefined> {
  const { rows } = await sql<{ position: string | number; error: string }>`
    select position, error from ${sql.table(`${schema}.projection_parked`)}
     where name = ${name} and position > ${after}
     order by position limit 1`.execute(db);
  const row = rows[0];
  return row === undefined ? undefined : { position: Number(row.position), error: row.error };
}
