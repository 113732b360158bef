import { sql, type Kysely, type RawBuilder, type Transaction } from 'kysely';
import type { Projection as PureProjection } from '../../projections/projection.ts';
import type { StoredEvent } from '../store/port.ts';
import type { Projection } from '../subscriptions/projection.ts';
import { createReadModelTables, type AnyTables } from './read-model-tables.ts';
import { RowStore, stagedRowWrites } from './row-store.ts';

/** Default bound of the row cache, over all of a projection's tables. */
export const DEFAULT_MAX_CACHED_ROWS = 20_000;

/** The runner-facing projection {@link sqlReadModel} returns, plus a view of its cache. */
export interface SqlReadModel extends Projection {
  /** The pure projection it runs. */
  readonly pure: PureProjection<AnyTables>;
  /**
   * The cached rows, by table then key (`undefined`: cached as absent). Every entry equals what
   * the database holds once the batch that wrote it committed. For tests.
   */
  cachedRows(): Map<string, Map<string, unknown>>;
}

export interface SqlReadModelOptions {
  /** Most rows kept in memory between batches (least recently written leave first). Default 20,000. */
  maxCachedRows?: number;
}

/**
 * Runs a pure projection (`apply(event, lookup) -> RowChange[]`, see projections/README.md) under a
 * {@link ProjectionRunner}, storing each table as a key/jsonb table ({@link createReadModelTables}).
 *
 * Rows are read through a {@link RowStore}: a bounded cache that survives between batches, because
 * while the runner holds the projection's lock nobody else writes its tables. Before a batch, the
 * rows the projection's `prefetch` hints name are fetched in one query per table; a row still
 * unknown is fetched when the fold asks for it, and the event is run again.
 *
 * A batch's changes are staged (and read back by later events of the batch), then written with
 * one bulk upsert and one bulk delete per table. With `prepare` (what the runner uses) those
 * writes go out in the same statement as the checkpoint move, gated on it; `apply` runs them in
 * the runner's transaction instead. They enter the cache only on `committed`; `rolledBack` drops
 * them and the whole cache.
 *
 * One adapter instance serves one runner. Rows go through JSON (`jsonb`): they must be JSON values.
 *
 * @example
 * const runner = new ProjectionRunner({ store, db, schema: 'read_models',
 *   projection: sqlReadModel(missionStateProjection) });
 */
export function sqlReadModel<Tables>(
  projection: PureProjection<Tables>,
  options: SqlReadModelOptions = {},
): SqlReadModel {
  const pure = projection as unknown as PureProjection<AnyTables>;
  const rows = new RowStore(pure, {
    maxCachedRows: options.maxCachedRows ?? DEFAULT_MAX_CACHED_ROWS,
  });

  const prepare = async (db: Kysely<unknown>, events: readonly StoredEvent[], schema: string) => {
    // A batch neither committed nor rolled back as far as we were told: start over.
    if (rows.pending) rows.rolledBack();
    // The runner holds the projection's lock: nobody else writes these tables meanwhile.
    if (!rows.isLoaded) await rows.load(db, schema);
    for (const [table, keys] of rows.wanted(events)) await rows.fetch(db, schema, table, keys);
    for (const event of events) {
      if (!pure.handles(event.type)) continue;
      for (let missing = rows.stage(event); missing !== undefined; missing = rows.stage(event)) {
        await rows.fetch(db, schema, missing.table, [missing.key]);
      }
    }
    const staged = rows.seal();
    return (gate: RawBuilder<unknown>) => [...stagedRowWrites(schema, rows.names, staged, gate)];
  };

  return {
    name: pure.name,
    version: pure.version,
    pure,
    handles: (type) => pure.handles(type),
    prepare,

    async setup(db: Kysely<unknown>, schema: string) {
      const { created } = await createReadModelTables(db, schema, pure);
      // Loaded lazily in the first batch: a standby's cache would be stale by then.
      rows.rolledBack();
      return created;
    },

    async apply(trx: Transaction<unknown>, events: readonly StoredEvent[], schema: string) {
      const writes = await prepare(trx, events, schema);
      for (const write of writes(sql`true`)) await write.execute(trx);
    },

    committed() {
      rows.committed();
    },

    rolledBack() {
      // The batch may have committed after all (a failed COMMIT), or another runner may write
      // next: start over in the next batch.
      rows.rolledBack();
    },

    cachedRows: () => rows.cachedRows(),
  };
}
