import {
  Migrator,
  type MigrationResultSet,
  sql,
  type Kysely,
  type Migration,
  type MigrationProvider,
} from 'kysely';
import { LedgerError } from '../errors.ts';
import { quoteIdentifier, type FrozenMigration } from './frozen-migration.ts';
import { assertSchemaName } from './schema-name.ts';

/**
 * One ordered list of frozen migrations and the kysely bookkeeping tables that record it. Each
 * list has its own tables, so two lists (the event store's, the read models') may share a schema.
 */
export interface MigrationList {
  /** What the list builds, for error messages ("the event store"). */
  readonly subject: string;
  /** Name of kysely's table of applied migrations in the schema. */
  readonly table: string;
  /** Name of kysely's lock table in the schema. */
  readonly lockTable: string;
  /** In the order they shipped; names sort in that order too. */
  readonly migrations: readonly FrozenMigration[];
}

/**
 * Brings `schema` to `target` of `list` (default: its last migration) with kysely's `Migrator`
 * and returns the names it applied. Idempotent, and safe when several processes start at once: a
 * session advisory lock keyed by the schema name serialises them, covering even the CREATE SCHEMA
 * and kysely's own bookkeeping tables, whose IF NOT EXISTS alone races. Every list migrating a
 * schema takes the same lock. Runs outside any transaction of the caller: kysely's Migrator
 * opens its own, one per run.
 */
export async function migrateSchema<DB>(
  db: Kysely<DB>,
  schema: string,
  list: MigrationList,
  target?: string,
): Promise<string[]> {
  assertSchemaName(schema);
  const quoted = quoteIdentifier(schema);
  const lockKey = sql`hashtextextended(${`mission-ledger:migrate:${schema}`}, 0)`;
  const migrations: Record<string, Migration> = {};
  for (const migration of list.migrations) {
    migrations[migration.name] = {
      async up(trx) {
        for (const statement of migration.statements(quoted)) await sql.raw(statement).execute(trx);
      },
    };
  }
  const provider: MigrationProvider = { getMigrations: () => Promise.resolve(migrations) };
  return db.connection().execute(async (conn) => {
    await sql`select pg_advisory_lock(${lockKey})`.execute(conn);
    try {
      await sql`create schema if not exists ${sql.id(schema)}`.execute(conn);
      const migrator = new Migrator({
        db: conn,
        provider,
        migrationTableSchema: schema,
        migrationTableName: list.table,
        migrationLockTableName: list.lockTable,
      });
      const { error, results } = await migrateRetryingCatalogRaces(() =>
        target === undefined ? migrator.migrateToLatest() : migrator.migrateTo(target),
      );
      if (error !== undefined) {
        throw new LedgerError(
          'STORE_UNAVAILABLE',
          `Migrating ${list.subject} failed.`,
          { schema },
          { cause: error },
        );
      }
      return (results ?? []).map((r) => r.migrationName);
    } finally {
      await sql`select pg_advisory_unlock(${lockKey})`.execute(conn);
    }
  });
}

/**
 * PostgreSQL codes a catalog scan fails with when another session drops a schema or table while
 * the scan runs (kysely's Migrator lists every table of the database to find its own).
 */
const CATALOG_RACES = new Set(['3F000', '42P01']);
const MAX_CATALOG_RETRIES = 5;

/**
 * Runs a migration step again when it failed only because another session dropped an unrelated
 * schema under its catalog scan (a verification dropping its scratch schema, a test cleaning up).
 * Each migration runs in its own transaction and records itself, so running the step again
 * applies exactly what is still missing.
 */
export async function migrateRetryingCatalogRaces(
  run: () => Promise<MigrationResultSet>,
): Promise<MigrationResultSet> {
  for (let attempt = 1; ; attempt += 1) {
    const outcome = await run();
    const code = (outcome.error as { code?: unknown } | undefined)?.code;
    if (typeof code !== 'string' || !CATALOG_RACES.has(code) || attempt >= MAX_CATALOG_RETRIES)
      return outcome;
  }
}
