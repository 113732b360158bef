import type { Kysely } from 'kysely';
import { loadConfig } from '../config.ts';
import { openReadModelDatabase } from '../read-models/open-read-models.ts';
import { LedgerError } from '../errors.ts';
import {
  DEFAULT_PG_DEADLINES,
  openStore,
  parseStoreUrl,
  type PgDeadlines,
} from '../store/open-store.ts';
import type { EventStore } from '../store/port.ts';

/** The log and the read-model database, as `ledger serve` would open them. */
export interface ReadSide {
  store: EventStore;
  db: Kysely<unknown>;
  schema: string;
  close(): Promise<void>;
}

/** Opens the store named by LEDGER_STORE and its read models (LEDGER_READ_MODELS or beside it). */
export async function openReadSide(): Promise<ReadSide> {
  const config = loadConfig();
  // A memory: log lives only in the process that holds it: this one would start empty and
  // verify or report on nothing.
  if (parseStoreUrl(config.LEDGER_STORE).kind === 'memory') {
    throw new LedgerError(
      'CONFIGURATION_INVALID',
      'LEDGER_STORE=memory: keeps its log inside `ledger serve`; replay and projections need a store that outlives a process.',
    );
  }
  const deadlines: PgDeadlines = {
    ...DEFAULT_PG_DEADLINES,
    timeoutMs: config.LEDGER_STORE_TIMEOUT_MS,
  };
  const store = await openStore(config.LEDGER_STORE, {
    maxEventBytes: config.LEDGER_MAX_EVENT_BYTES,
    deadlines,
  });
  try {
    // Rebuilds and verification run statements (index builds, whole-table reads in one pinned
    // transaction) that take as long as the tables are large: no server-side timeouts there.
    const target = openReadModelDatabase(config.LEDGER_STORE, store, config.LEDGER_READ_MODELS, {
      ...deadlines,
      timeoutMs: 0,
    });
    return {
      store,
      db: target.db,
      schema: target.schema,
      close: async () => {
        await target.close?.();
        await store.close();
      },
    };
  } catch (error) {
    await store.close().catch(() => undefined);
    throw error;
  }
}
