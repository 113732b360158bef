import type { LedgerConfig } from '../config.ts';
import { LedgerError } from '../errors.ts';
import { parseStoreUrl, storeFsyncs } from '../store/open-store.ts';

/**
 * Refuses `LEDGER_ENV=production` on a store that does not fsync (embedded PGlite, `memory:`):
 * a crash there loses events the ledger already acknowledged. `LEDGER_ALLOW_UNSAFE_STORE=1` is
 * the explicit way to run so anyway (a demo, a disposable environment).
 */
export function refuseUnsafeStore(config: LedgerConfig): void {
  if (config.LEDGER_ENV !== 'production' || config.LEDGER_ALLOW_UNSAFE_STORE === '1') return;
  const location = parseStoreUrl(config.LEDGER_STORE);
  if (storeFsyncs(location)) return;
  throw new LedgerError(
    'CONFIGURATION_INVALID',
    `LEDGER_ENV=production needs a store that fsyncs, and LEDGER_STORE=${location.kind === 'memory' ? 'memory:' : 'pglite:'}… does not: use postgres:// (or esdb://), or set LEDGER_ALLOW_UNSAFE_STORE=1 to accept losing events on a crash.`,
    { store_kind: location.kind },
  );
}
