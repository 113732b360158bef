import type { Kysely } from 'kysely';
import { LedgerError } from '../errors.ts';
import {
  DEFAULT_PG_DEADLINES,
  inMemoryPglite,
  openPostgresDatabase,
  parseStoreUrl,
  sqlDatabaseOf,
  type PgDeadlines,
} from '../store/open-store.ts';
import type { EventStore } from '../store/port.ts';

/** Where a process keeps its read models. */
export interface ReadModelDatabase {
  db: Kysely<unknown>;
  schema: string;
  /** Closes the read models' own pool; absent when they share the store's database. */
  close?: () => Promise<void>;
  /** For banners: where they are. */
  description: string;
}

/** Connections of a read-model pool: one held by the projection engine, the rest for its batches and the reads. */
const POOL_SIZE = 16;

/**
 * Chooses the read models' database:
 * - `LEDGER_READ_MODELS` unset: the store's own database. On PGlite the store's connection is
 *   shared (one process owns the directory); on PostgreSQL a separate pool to the same database.
 *   The schema is `<store schema>_read_models`.
 * - `LEDGER_READ_MODELS=postgres://...?schema=name`: that database (schema default
 *   `read_models`). Required with an EventStoreDB store.
 * - a `memory:` store: an in-memory PGlite of their own, lost with the log and never kept past
 *   it (LEDGER_READ_MODELS is refused).
 *
 * On PostgreSQL every call is bounded by `deadlines` (serving defaults unless told otherwise;
 * batch commands turn the server-side timeouts off for their long statements).
 */
export function openReadModelDatabase(
  storeUrl: string,
  store: EventStore,
  readModelsUrl?: string,
  deadlines: PgDeadlines = DEFAULT_PG_DEADLINES,
): ReadModelDatabase {
  const location = parseStoreUrl(storeUrl);
  if (location.kind === 'memory') {
    // Read models kept anywhere else would outlive the log: the next process would start a new
    // log at position 1 under checkpoints already past it, and skip its events.
    if (readModelsUrl !== undefined) {
      throw new LedgerError(
        'CONFIGURATION_INVALID',
        'LEDGER_READ_MODELS must be unset with LEDGER_STORE=memory: (its read models live in memory beside it).',
      );
    }
    const db = inMemoryPglite();
    return {
      db,
      schema: 'ledger_read_models',
      close: () => db.destroy(),
      description: 'ledger_read_models (in-memory PGlite beside the log)',
    };
  }
  if (readModelsUrl !== undefined) {
    const target = parseStoreUrl(readModelsUrl, 'LEDGER_READ_MODELS');
    if (target.kind !== 'postgres') {
      throw new LedgerError(
        'CONFIGURATION_INVALID',
        'LEDGER_READ_MODELS must be a postgres:// URL (unset: beside the store).',
      );
    }
    const schema = new URL(readModelsUrl).searchParams.has('schema')
      ? target.schema
      : 'read_models';
    return {
      ...pool(target.connectionString, schema, deadlines),
      description: `${schema} (own database)`,
    };
  }
  switch (location.kind) {
    case 'pglite': {
      const db = sqlDatabaseOf(store);
      if (db === undefined) throw new Error('A pglite: store is an SQL store.');
      return {
        db,
        schema: 'ledger_read_models',
        description: 'ledger_read_models (beside the log)',
      };
    }
    case 'postgres': {
      const schema = `${location.schema}_read_models`;
      return {
        ...pool(location.connectionString, schema, deadlines),
        description: `${schema} (beside the log)`,
      };
    }
    case 'eventstoredb':
      throw new LedgerError(
        'CONFIGURATION_INVALID',
        'With an EventStoreDB store, set LEDGER_READ_MODELS to a postgres:// URL for the read models.',
      );
  }
}

function pool(connectionString: string, schema: string, deadlines: PgDeadlines) {
  const db = openPostgresDatabase(connectionString, POOL_SIZE, deadlines);
  return { db, schema, close: () => db.destroy() };
}
