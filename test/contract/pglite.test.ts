import { PGlite } from '@electric-sql/pglite';
import { Kysely } from 'kysely';
import { PGliteDialect } from 'kysely-pglite-dialect';
import { afterAll, beforeAll } from 'vitest';
import { openSqlStore } from '../../src/store/open-store.ts';
import type { EventStore } from '../../src/store/port.ts';
import type { SqlDriver } from '../../src/store/sql/sql-store.ts';
import type { LedgerTables } from '../../src/store/sql/tables.ts';
import { testEventStore, type ContractStoreOptions } from './event-store-contract.ts';

// One embedded database for the file (creating one takes seconds); each test gets a schema.
let db: Kysely<LedgerTables>;
const schemaOf = new WeakMap<EventStore, string>();
let counter = 0;

beforeAll(async () => {
  db = new Kysely<LedgerTables>({ dialect: new PGliteDialect(await PGlite.create()) });
});
afterAll(async () => {
  await db.destroy();
});

async function openOn(schema: string, options: ContractStoreOptions = {}): Promise<EventStore> {
  const shared: SqlDriver = { db, close: () => Promise.resolve() };
  const store = await openSqlStore(shared, { schema, pollIntervalMs: 200, ...options });
  schemaOf.set(store, schema);
  return store;
}

testEventStore('PGlite', {
  open: (options) => openOn(`t${(counter += 1)}`, options),
  openPeer: (store, options) => openOn(schemaOf.get(store)!, options),
});
