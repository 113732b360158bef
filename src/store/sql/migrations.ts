import { Migrator, sql, type Kysely, type Migration, type MigrationProvider } from 'kysely';
import { LedgerError } from '../../errors.ts';
import { appendBatchFunction } from './append-function.ts';
import type { LedgerTables } from './tables.ts';

/**
 * Schema migrations of the SQL event store, in order. Never edit a shipped migration: add one.
 * Each receives a Kysely bound to the store's schema. `append_batch` is the exception that proves
 * it: every migration that changes its body creates the current body (`create or replace`), so
 * each later one replaces it again with the same text.
 */
function migrations(schema: string): Record<string, Migration> {
  return {
    '0001_event_log': {
      async up(db) {
        const s = db.schema.withSchema(schema);
        await s
          .createTable('events')
          .addColumn('position', 'int8', (c) => c.primaryKey())
          .addColumn('event_id', 'uuid', (c) => c.notNull().unique())
          .addColumn('stream_id', 'text', (c) => c.notNull())
          .addColumn('revision', 'int8', (c) => c.notNull())
          .addColumn('type', 'text', (c) => c.notNull())
          .addColumn('data', 'json', (c) => c.notNull())
          .addColumn('metadata', 'json', (c) => c.notNull())
          .addColumn('idempotency_key', 'text')
          .addUniqueConstraint('events_stream_revision', ['stream_id', 'revision'])
          .execute();
        await s
          .createIndex('events_stream_idempotency_key')
          .on('events')
          .columns(['stream_id', 'idempotency_key'])
          .unique()
          .where(sql.ref('idempotency_key'), 'is not', null)
          .execute();
        await s
          .createTable('head')
          .addColumn('id', 'int4', (c) => c.primaryKey().check(sql`id = 1`))
          .addColumn('position', 'int8', (c) => c.notNull())
          .execute();
        await db.withSchema(schema).insertInto('head').values({ id: 1, position: 0 }).execute();
        await appendBatchFunction(schema).execute(db);
      },
    },
    // append_batch gained its insert-at-once path for appends that state their revision. The
    // function is replaced whole: 0001 on a fresh schema already creates the current body.
    '0002_append_batch_insert_at_once': {
      async up(db) {
        await appendBatchFunction(schema).execute(db);
      },
    },
    // The insert-at-once path moved out of append_batch into one statement the store sends itself
    // (append-statement.ts); append_batch now answers only what that statement cannot, in full.
    '0003_append_batch_decides_in_full': {
      async up(db) {
        await appendBatchFunction(schema).execute(db);
      },
    },
  };
}

const SAFE_SCHEMA = /^[a-z_][a-z0-9_]{0,62}$/;

export function assertSchemaName(schema: string): void {
  if (!SAFE_SCHEMA.test(schema)) {
    throw new LedgerError(
      'CONFIGURATION_INVALID',
      `Schema name ${JSON.stringify(schema)} must match ${SAFE_SCHEMA}.`,
    );
  }
}

/**
 * Brings the schema to the latest migration. Idempotent, and safe when several processes start
 * at once: a session advisory lock keyed by the schema name serialises them, covering even the
 * CREATE SCHEMA and kysely's own bookkeeping tables, whose IF NOT EXISTS alone races.
 */
export async function migrateToLatest(db: Kysely<LedgerTables>, schema: string): Promise<string[]> {
  assertSchemaName(schema);
  const lockKey = sql`hashtextextended(${`mission-ledger:migrate:${schema}`}, 0)`;
  return db.connection().execute(async (conn) => {
    await sql`select pg_advisory_lock(${lockKey})`.execute(conn);
    try {
      await sql`create schema if not exists ${sql.id(schema)}`.execute(conn);
      const provider: MigrationProvider = {
        getMigrations: () => Promise.resolve(migrations(schema)),
      };
      const migrator = new Migrator({ db: conn, provider, migrationTableSchema: schema });
      const { error, results } = await migrator.migrateToLatest();
      if (error !== undefined) {
        throw new LedgerError(
          'STORE_UNAVAILABLE',
          'Migrating the event store failed.',
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
