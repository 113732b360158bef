import { createHash } from 'node:crypto';
import { sql, type Kysely } from 'kysely';
import type { ProjectionFold } from '../../projections/projection.ts';
import { LedgerError } from '../errors.ts';
import { assertSchemaName } from '../schema-migrations/schema-name.ts';

/** Projection and table names: lower-case SQL identifiers, no quoting surprises. */
const SAFE_NAME = /^[a-z_][a-z0-9_]*$/;
/** PostgreSQL silently truncates longer identifiers, which could make two tables one. */
const MAX_IDENTIFIER_BYTES = 63;

export type AnyTables = Record<string, unknown>;

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
export function readModelTables(pure: ProjectionFold<AnyTables>): Map<string, string> {
  const names = new Map<string, string>();
  for (const table of Object.keys(pure.tables)) {
    names.set(table, readModelTableName(pure.name, table));
  }
  return names;
}

export interface CreateTablesOptions {
  /**
   * Leave out the secondary indexes: for scratch copies built from position 0, where every
   * upsert would otherwise maintain them (no index-free HOT updates, since the indexed row
   * changes). Create them (call again without this) before serving from the tables.
   */
  withoutIndexes?: boolean;
  /**
   * Create new tables `unlogged`: for scratch copies, which are dropped or rebuilt rather than
   * recovered after a crash, so their writes skip the WAL. {@link setTablesLogged} makes them
   * ordinary tables before they serve.
   */
  unlogged?: boolean;
}

/**
 * Creates the tables of a pure projection in `schema` (idempotent):
 * `<schema>."<projection>__<table>"(key text collate "C" primary key, row jsonb not null)`, plus
 * each declared index on `((row->>'col'), ..., key)`. The key uses byte order (`"C"`) so keyset
 * scans and digests do not depend on the database's locale. `created` is true when some table
 * had to be created (all of them: when only some are missing, the rest are dropped, since they
 * hold rows the missing ones depend on).
 */
export async function createReadModelTables(
  db: Kysely<unknown>,
  schema: string,
  pure: ProjectionFold<AnyTables>,
  options: CreateTablesOptions = {},
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
    for (const name of existing) await sql`drop table ${sql.id(schema, name)}`.execute(db);
  }
  const created = existing.size < tables.size;
  const kind = options.unlogged === true ? sql`unlogged table` : sql`table`;
  for (const [table, name] of tables) {
    await sql`create ${kind} if not exists ${sql.id(schema, name)} (
                key text collate "C" primary key,
                row jsonb not null
              ) with (toast_tuple_target = 8160)`.execute(db);
    // ^ Rows of a few KB stay inline and uncompressed: each is rewritten often, and compressing
    // it on every write cost ~20% of a rebuild.
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
 * Makes unlogged tables of `pure` in `schema` ordinary (WAL-logged, crash-safe) tables. Rewrites
 * each one into the WAL once; a no-op for tables that are logged already.
 */
export async function setTablesLogged(
  db: Kysely<unknown>,
  schema: string,
  pure: ProjectionFold<AnyTables>,
): Promise<void> {
  const names = [...readModelTables(pure).values()];
  const { rows } = await sql<{ name: string }>`
    select c.relname as name from pg_class c join pg_namespace n on n.oid = c.relnamespace
     where n.nspname = ${schema} and c.relname = any(${names}::text[])
       and c.relpersistence = 'u'`.execute(db);
  for (const { name } of rows) {
    await sql`alter table ${sql.id(schema, name)} set logged`.execute(db);
  }
}
