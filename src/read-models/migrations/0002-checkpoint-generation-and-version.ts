import type { FrozenMigration } from '../../schema-migrations/frozen-migration.ts';

/**
 * A checkpoint's `generation` (bumped when its projection's tables are replaced wholesale, so a
 * runner caching the old ones loses its compare-and-set) and `version` (the projection version
 * that built the tables). `if not exists`, so that it adopts a schema that gained the columns
 * before read-model schemas had migrations: the same statement added them then.
 */
export const checkpointGenerationAndVersion: FrozenMigration = {
  name: '0002_checkpoint_generation_and_version',
  statements: (schema) => [
    `alter table ${schema}."projection_checkpoints"
              add column if not exists generation int8 not null default 0,
              add column if not exists version int4 not null default 0`,
  ],
};
