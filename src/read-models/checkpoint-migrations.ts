import type { Kysely } from 'kysely';
import { migrateSchema, type MigrationList } from '../schema-migrations/migrator.ts';
import { checkpointTables } from './migrations/0001-checkpoint-tables.ts';
import { checkpointGenerationAndVersion } from './migrations/0002-checkpoint-generation-and-version.ts';

/**
 * Migrations of the checkpoint tables of a read-model schema, frozen like the event store's and
 * recorded in tables of their own, so a read-model schema may also be the event store's. The
 * projections' data tables (`<projection>__<table>`) are not migrated: a new projection version
 * rebuilds them.
 */
export const checkpointMigrations: MigrationList = {
  subject: 'the read-model checkpoint tables',
  table: 'checkpoint_migration',
  lockTable: 'checkpoint_migration_lock',
  migrations: [checkpointTables, checkpointGenerationAndVersion],
};

/**
 * Creates or upgrades the checkpoint tables of `schema` (idempotent). Run it before the
 * transaction that sets a projection up: kysely's Migrator opens its own.
 */
export async function migrateCheckpointTables<DB>(
  db: Kysely<DB>,
  schema: string,
): Promise<string[]> {
  return migrateSchema(db, schema, checkpointMigrations);
}
