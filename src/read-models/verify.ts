import type { Kysely } from 'kysely';
import type { Projection as PureProjection } from '../../projections/projection.ts';
import { isLedgerError } from '../errors.ts';
import type { EventStore, Position } from '../store/port.ts';
import { readCheckpoints, type CheckpointRow } from '../subscriptions/checkpoint-tables.ts';
import { compareReadModels, type TableComparison } from './compare-tables.ts';
import { catchUpProjections } from './catch-up.ts';
import { dropSchema, isEmbedded, scratchSchemaName } from './scratch.ts';
import type { AnyTables } from './read-model-tables.ts';

export interface VerifyOptions {
  store: EventStore;
  /** Where the live read models are. */
  db: Kysely<unknown>;
  schema: string;
  projections: readonly PureProjection<AnyTables>[];
  /** Differing rows reported per table (all are counted). Default 20. */
  maxDifferences?: number;
  /** Rows staged before each write of the scratch copies (see `catchUpProjections`). */
  flushRows?: number;
  onProgress?: (projection: string, position: Position, target: Position) => void;
}

/**
 * - `identical`: every table's rows (and so its digest) equal the rebuild's;
 * - `different`: some rows differ, named in `tables`;
 * - `not-built`: the live read model has no checkpoint, so there is nothing to compare;
 * - `rebuild-failed`: replaying the log into the scratch schema stalled (see `error`).
 */
export type VerificationStatus = 'identical' | 'different' | 'not-built' | 'rebuild-failed';

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
}

export interface VerifyReport {
  identical: boolean;
  head: Position;
  schema: string;
  projections: ProjectionVerification[];
}

/** Rounds of "rebuild up to the live position, then check it did not move" on PGlite. */
const EMBEDDED_ROUNDS = 5;

/**
 * `ledger replay --verify`: rebuilds every projection from position 0 into a scratch schema with
 * the same pure folds and row store as live serving ({@link catchUpProjections}, one pass over the
 * log for all of them), and compares each table, row by row and by digest,
 * with the live one at exactly the live checkpoint.
 *
 * Live runners keep moving, so the comparison point is pinned: the scratch copies are first
 * rebuilt up to the live checkpoints without locks, then (on PostgreSQL) the live checkpoint rows
 * are locked `for update` — which holds live runners before their next batch, never appends or
 * reads — the scratch copies catch up the last few events, and both sides are read in that
 * transaction. On PGlite one process owns the database and no live runner can move meanwhile.
 * The scratch schema is always dropped.
 */
export async function verifyReadModels(options: VerifyOptions): Promise<VerifyReport> {
  const { db, schema, store } = options;
  const names = options.projections.map((p) => p.name);
  const scratch = scratchSchemaName(schema, 'verify');
  const failed = new Map<string, string>();
  const head = await store.headPosition();

  const rebuildTo = async (targets: ReadonlyMap<string, CheckpointRow>) => {
    const runs = options.projections.flatMap((pure) => {
      const target = targets.get(pure.name);
      return target === undefined || failed.has(pure.name)
        ? []
        : [{ pure, until: target.position }];
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
    if (await isEmbedded(db)) {
      for (let round = 0; round < EMBEDDED_ROUNDS && results === undefined; round += 1) {
        const targets = await readCheckpoints(db, schema, names);
        await rebuildTo(targets);
        const now = await readCheckpoints(db, schema, names);
        if (names.every((n) => now.get(n)?.position === targets.get(n)?.position)) {
          results = await compare(db, now);
        }
      }
      if (results === undefined) {
        throw new Error('The live read models kept moving; stop the other runners and retry.');
      }
    } else {
      await rebuildTo(await readCheckpoints(db, schema, names));
      results = await db.transaction().execute(async (trx) => {
        const pinned = await readCheckpoints(trx, schema, names, { forUpdate: true });
        await rebuildTo(pinned); // the catch-up uses other connections of the pool
        return compare(trx, pinned);
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
