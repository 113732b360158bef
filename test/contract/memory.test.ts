import { openStore } from '../../src/store/open-store.ts';
import { MemoryEventStore } from '../../src/store/memory/memory-store.ts';
import type { EventStore } from '../../src/store/port.ts';
import { testEventStore } from './event-store-contract.ts';

function memoryStore(store: EventStore): MemoryEventStore {
  if (!(store instanceof MemoryEventStore)) throw new Error('expected a memory store');
  return store;
}

// Opened through LEDGER_STORE's parser, as `ledger serve` opens it; a peer is a second handle on
// the same log, as a second process on one database.
testEventStore('memory', {
  open: async (options) => memoryStore(await openStore('memory:', options)),
  openPeer: (store, options) =>
    Promise.resolve(new MemoryEventStore(memoryStore(store).log, options)),
});
