import { describe, it } from 'vitest';
import { openStore } from '../../src/store/open-store.ts';
import { testEventStore } from './event-store-contract.ts';

/*
 * EventStoreDB cannot be installed on the CI machines. The shared contract runs against it only
 * when LEDGER_TEST_ESDB_URL names a server (e.g. esdb://localhost:2113?tls=false); otherwise this
 * file reports itself skipped, by name, so the gap is visible in every test run.
 */
const url = process.env.LEDGER_TEST_ESDB_URL;

if (url === undefined || url === '') {
  describe('EventStore contract: EventStoreDB', () => {
    it.skip('skipped: LEDGER_TEST_ESDB_URL is not set', () => undefined);
  });
} else {
  testEventStore('EventStoreDB', {
    open: (options) => openStore(url, { maxEventBytes: options?.maxEventBytes }),
  });
}
