import type { Kysely } from 'kysely';
import { migrateSchema, type MigrationList } from '../../schema-migrations/migrator.ts';
import { eventLog } from './migrations/0001-event-log.ts';
import { appendBatchInsertAtOnce } from './migrations/0002-append-batch-insert-at-once.ts';
import { appendBatchDecidesInFull } from './migrations/0003-append-batch-decides-in-full.ts';

export { assertSchemaName } from '../../schema-migrations/schema-name.ts';

/**
 * The SQL event store's migrations, in the order they shipped, each frozen as the text it ran
 * (frozen-migration.ts). Never edit one: add the next. The store's statements
 * (sql-store.ts, append-statement.ts) are written against the schema the last one leaves.
 */
export const eventStoreMigrations: MigrationList = {
  subject: 'the event store',
  table: 'kysely_migration',
  lockTable: 'kysely_migration_lock',
  migrations: [eventLog, appendBatchInsertAtOnce, appendBatchDecidesInFull],
};

/** Brings the event store's schema to the latest migration; see {@link migrateSchema}. */
export async function migrateToLatest<DB>(db: Kysely<DB>, schema: string): Promise<string[]> {
  return migrateSchema(db, schema, eventStoreMigrations);
}
