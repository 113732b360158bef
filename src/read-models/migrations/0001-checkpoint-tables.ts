import type { FrozenMigration } from '../../schema-migrations/frozen-migration.ts';

/**
 * The projection runner's own tables: `projection_checkpoints` (one row per projection: how far
 * it has applied the log, and whether it runs) and `projection_parked` (events a projection could
 * not apply). `if not exists`, so that it adopts a schema whose tables were created before
 * read-model schemas had migrations: the same statements created them then.
 */
export const checkpointTables: FrozenMigration = {
  name: '0001_checkpoint_tables',
  statements: (schema) => [
    `
    create table if not exists ${schema}."projection_checkpoints" (
      name text primary key,
      position int8 not null,
      status text not null check (status in ('running', 'stalled', 'stopped')),
      error text null,
      updated_at timestamptz not null default now()
    )`,
    `
    create table if not exists ${schema}."projection_parked" (
      name text not null,
      position int8 not null,
      event json not null,
      error text not null,
      attempts int4 not null,
      parked_at timestamptz not null default now(),
      primary key (name, position)
    )`,
  ],
};
