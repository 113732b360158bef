import { loadConfig } from '../config.ts';
import { DEFAULT_PG_DEADLINES, openStore, redactStoreUrl } from '../store/open-store.ts';

/** `ledger migrate`: opening a store migrates it; report where the log stands. */
export async function runMigrate(): Promise<void> {
  const config = loadConfig();
  const store = await openStore(config.LEDGER_STORE, {
    maxEventBytes: config.LEDGER_MAX_EVENT_BYTES,
    deadlines: { ...DEFAULT_PG_DEADLINES, timeoutMs: config.LEDGER_STORE_TIMEOUT_MS },
  });
  try {
    const head = await store.headPosition();
    process.stdout.write(
      `store ${redactStoreUrl(config.LEDGER_STORE)} is up to date; head position ${head}\n`,
    );
  } finally {
    await store.close();
  }
}
