import { createHash } from 'node:crypto';
import { sql, type Kysely, type Transaction } from 'kysely';
import type { Lookup, Projection as PureProjection } from '../../projections/projection.ts';
import { LedgerError } from '../errors.ts';
import type { StoredEvent } from '../store/port.ts';
import { assertSchemaName } from '../store/sql/migrations.ts';
import type { Projection } from '../subscriptions/projection.ts';

/** Projection and table names: lower-case SQL identifiers, no quoting surprises. */
const SAFE_NAME = /^[a-z_][a-z0-9_]*$/;
/** PostgreSQL silently truncates longer identifiers, which could make two tables one. */
const MAX_IDENTIFIER_BYTES = 63;
/** Default bound of the row cache, over all of a projection's tables. */
export const DEFAULT_MAX_CACHED_ROWS = 20_000;

export type AnyTables = Record<string, unknown>;

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
  /**
   * Leave out the secondary indexes: for scratch copies built from position 0, where every
   * upsert would otherwise maintain them (no index-free HOT updates, since the indexed row
   * changes). Create them before serving from the tables ({@link createReadModelTables}).
   */
  withoutIndexes?: boolean;
}

/** The SQL table holding `table` of the pure projection `projection`: `<projection>__<table>`. */
export function readModelTableName(projection: string, table: string): string {
  for (const name of [projection, table]) {
    if (!SAFE_NAME.test(name)) {
      throw new LedgerError(
        'CONFIGURATION_INVALID',
        `Read-model name ${JSON.stringify(name)} must match ${SAFE_NAME}.`,
      );
    }
  }
  const name = `${projection}__${table}`;
  if (Buffer.byteLength(name) > MAX_IDENTIFIER_BYTES - 9) {
    // 9 bytes stay free for index names (`<table>_<8 hex>`).
    throw new LedgerError(
      'CONFIGURATION_INVALID',
      `Read-model table ${name} is longer than ${MAX_IDENTIFIER_BYTES - 9} bytes.`,
    );
  }
  return name;
}

/** Each table of a pure projection with its SQL table name. */
export function readModelTables(pure: PureProjection<AnyTables>): Map<string, string> {
  const names = new Map<string, string>();
  for (const table of Object.keys(pure.tables)) {
    names.set(table, readModelTableName(pure.name, table));
  }
  return names;
}

/** Marks a key cached as absent (a `Map` cannot tell a stored `undefined` from a missing key). */
const ABSENT = Symbol('absent');

/** Thrown by the lookup on a row neither cached nor staged: fetched, then the event is re-run. */
class RowMiss extends Error {
  constructor(
    readonly table: string,
    readonly key: string,
  ) {
    super(`Row ${key} of ${table} is not cached.`);
  }
}

/**
 * Creates the tables of a pure projection in `schema` (idempotent):
 * `<schema>."<projection>__<table>"(key text collate "C" primary key, row jsonb not null)`, plus
 * each declared index on `((row->>'col'), ..., key)`. The key uses byte order (`"C"`) so keyset
 * scans and digests do not depend on the database's locale.
 */
export async function createReadModelTables(
  db: Kysely<unknown>,
  schema: string,
  pure: PureProjection<AnyTables>,
  options: { withoutIndexes?: boolean } = {},
): Promise<{ created: boolean }> {
  assertSchemaName(schema);
  await sql`create schema if not exists ${sql.id(schema)}`.execute(db);
  const tables = readModelTables(pure);
  const { rows } = await sql<{ name: string }>`
    select table_name as name from information_schema.tables
     where table_schema = ${schema} and table_name = any(${[...tables.values()]}::text[])`.execute(
    db,
  );
  const existing = new Set(rows.map((r) => r.name));
  if (existing.size > 0 && existing.size < tables.size) {
    // Some tables were dropped: the others hold rows the missing ones depend on. Start empty.
    for (const name of existing) await sql`drop table ${sql.id(schema, name)}`.execute(db);
  }
  const created = existing.size < tables.size;
  for (const [table, name] of tables) {
    await sql`create table if not exists ${sql.id(schema, name)} (
                key text collate "C" primary key,
                row jsonb not null
              ) with (toast_tuple_target = 8160)`.execute(db);
    // ^ Rows of a few KB (a mission with its dispatch) stay inline and uncompressed: each is
    // rewritten often, and compressing it on every write cost ~20% of a rebuild.
    const spec = pure.tables[table]!;
    for (const columns of options.withoutIndexes === true ? [] : (spec.indexes ?? [])) {
      const digest = createHash('sha256').update(columns.join(',')).digest('hex').slice(0, 8);
      const parts = columns.map((column) => sql`(${sql.ref('row')}->>${sql.lit(column)})`);
      await sql`create index if not exists ${sql.id(`${name}_${digest}`)}
                  on ${sql.id(schema, name)} (${sql.join([...parts, sql.ref('key')])})`.execute(db);
    }
  }
  return { created };
}

/**
 * Runs a pure projection (`apply(event, lookup) -> RowChange[]`, see projections/README.md) under a
 * {@link ProjectionRunner}, storing each table as a key/jsonb table ({@link createReadModelTables}).
 *
 * The pure `lookup` is synchronous, so rows are read ahead: a bounded cache of rows (and of
 * keys known to be absent) survives between batches, because while the runner holds the
 * projection's lock nobody else writes its tables. Before a batch, the rows the projection's
 * `prefetch` hints name are fetched in one query per table. A lookup of a row still unknown
 * throws inside the pure `apply`; the adapter fetches that row and runs the event again (pure, so
 * re-running is safe). A table that was empty when the cache was (re)loaded stays "complete" until
 * one of its rows is evicted: its misses are absent rows, with no query.
 *
 * A batch's changes are staged in an overlay (which `lookup` reads first) and written with one bulk
 * upsert and one bulk delete per table, each key once with its final value. The overlay enters the
 * cache only on `committed`; `rolledBack` drops the overlay and the whole cache.
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
  const names = readModelTables(pure);
  const maxCached = options.maxCachedRows ?? DEFAULT_MAX_CACHED_ROWS;
  if (!Number.isSafeInteger(maxCached) || maxCached < 0) {
    throw new LedgerError('CONFIGURATION_INVALID', 'maxCachedRows must be a whole number.');
  }
  // Per table: key -> row or ABSENT, in write order. Eviction drops the least recently written
  // rows (a row a projection reads it nearly always rewrites, so write order tracks use without
  // reordering on every lookup).
  const cache = new Map<string, Map<string, unknown>>();
  for (const table of names.keys()) cache.set(table, new Map());
  let cached = 0;
  /** Tables whose every row is in the cache: a miss there is an absent row. */
  const complete = new Set<string>();
  let loaded = false;
  let overlay: Map<string, Map<string, unknown>> | undefined;

  const lookup = ((table: string, key: string) => {
    const staged = overlay?.get(table);
    if (staged !== undefined) {
      const row = staged.get(key);
      if (row !== undefined || staged.has(key)) return row ?? undefined;
    }
    const row = cache.get(table)?.get(key);
    if (row !== undefined) return row === ABSENT ? undefined : row;
    if (complete.has(table)) return undefined;
    throw new RowMiss(table, key);
  }) as Lookup<AnyTables>;

  const remember = (table: string, key: string, row: unknown) => {
    const rows = cache.get(table)!;
    if (rows.delete(key)) cached -= 1;
    rows.set(key, row);
    cached += 1;
  };

  const reset = () => {
    for (const rows of cache.values()) rows.clear();
    cached = 0;
    complete.clear();
    loaded = false;
  };

  /** Fetches rows into the cache (absent ones as ABSENT). */
  const fetch = async (
    trx: Transaction<unknown>,
    schema: string,
    table: string,
    keys: readonly string[],
  ) => {
    if (keys.length === 0) return;
    const { rows } = await sql<{ key: string; row: unknown }>`
      select key, row from ${sql.id(schema, names.get(table)!)}
       where key = any(${keys}::text[])`.execute(trx);
    const found = new Map(rows.map((r) => [r.key, r.row]));
    for (const key of keys) remember(table, key, found.get(key) ?? ABSENT);
  };

  /** Drops the oldest rows, from the largest tables first, down to the bound. */
  const evict = () => {
    while (cached > maxCached) {
      let table = '';
      let largest = -1;
      for (const [name, rows] of cache) {
        if (rows.size > largest) [table, largest] = [name, rows.size];
      }
      const rows = cache.get(table)!;
      complete.delete(table);
      let excess = Math.min(cached - maxCached, rows.size);
      for (const key of rows.keys()) {
        if (excess-- <= 0) break;
        rows.delete(key);
        cached -= 1;
      }
    }
  };

  return {
    name: pure.name,
    version: pure.version,
    pure,
    handles: (type) => pure.handles(type),

    async setup(db: Kysely<unknown>, schema: string) {
      const { created } = await createReadModelTables(db, schema, pure, options);
      // Loaded lazily in the first batch: a standby's cache would be stale by then.
      reset();
      overlay = undefined;
      return created;
    },

    async apply(trx: Transaction<unknown>, events: readonly StoredEvent[], schema: string) {
      // A previous batch neither committed nor rolled back as far as we were told: unknown state.
      if (overlay !== undefined) reset();
      overlay = undefined;
      if (!loaded) {
        // After the checkpoint row is locked: nobody writes these tables until we commit.
        for (const [table, name] of names) {
          const { rows } = await sql<{ any: boolean }>`
            select exists (select 1 from ${sql.id(schema, name)}) as any`.execute(trx);
          if (rows[0]?.any !== true) complete.add(table);
        }
        loaded = true;
      }

      if (pure.prefetch !== undefined) {
        const wanted = new Map<string, Set<string>>();
        for (const event of events) {
          for (const { table, key } of pure.prefetch(event)) {
            if (!names.has(table) || complete.has(table) || cache.get(table)!.has(key)) {
              continue;
            }
            let keys = wanted.get(table);
            if (keys === undefined) wanted.set(table, (keys = new Set()));
            keys.add(key);
          }
        }
        for (const [table, keys] of wanted) await fetch(trx, schema, table, [...keys]);
      }

      const staged = new Map<string, Map<string, unknown>>();
      overlay = staged;
      for (const event of events) {
        if (!pure.handles(event.type)) continue;
        for (;;) {
          let changes;
          try {
            changes = pure.apply(event, lookup);
          } catch (error) {
            if (!(error instanceof RowMiss)) throw error;
            await fetch(trx, schema, error.table, [error.key]);
            continue;
          }
          for (const change of changes) {
            if (!names.has(change.table)) {
              throw new LedgerError(
                'CONFIGURATION_INVALID',
                `Projection ${pure.name} changed unknown table ${change.table}.`,
              );
            }
            let rows = staged.get(change.table);
            if (rows === undefined) staged.set(change.table, (rows = new Map<string, unknown>()));
            rows.set(change.key, change.row);
          }
          break;
        }
      }

      // Write each table's final values. The cache keeps the row objects themselves: rows are
      // JSON values (the projections' contract), so they equal what the database gives back.
      for (const [table, rows] of staged) {
        const upserts: { key: string; row: unknown }[] = [];
        const deletes: string[] = [];
        for (const [key, row] of rows) {
          if (row === null) deletes.push(key);
          else upserts.push({ key, row });
        }
        const target = sql.id(schema, names.get(table)!);
        if (upserts.length > 0) {
          const payload = JSON.stringify(upserts);
          await sql`insert into ${target} (key, row)
                    select e.key, e.row
                      from jsonb_to_recordset(${payload}::jsonb) as e(key text, row jsonb)
                    on conflict (key) do update set row = excluded.row`.execute(trx);
        }
        if (deletes.length > 0) {
          await sql`delete from ${target} where key = any(${deletes}::text[])`.execute(trx);
        }
      }
    },

    committed() {
      const staged = overlay;
      overlay = undefined;
      if (staged === undefined) return;
      for (const [table, rows] of staged) {
        for (const [key, row] of rows) remember(table, key, row === null ? ABSENT : row);
      }
      evict();
    },

    rolledBack() {
      overlay = undefined;
      // The batch may have committed after all (a failed COMMIT), or another runner may write
      // next: start over in the next batch.
      reset();
    },

    cachedRows() {
      const out = new Map<string, Map<string, unknown>>();
      for (const [table, rows] of cache) {
        if (rows.size === 0) continue;
        const copy = new Map<string, unknown>();
        for (const [key, row] of rows) copy.set(key, row === ABSENT ? undefined : row);
        out.set(table, copy);
      }
      return out;
    },
  };
}
