import { afterAll, beforeAll } from 'vitest';
import { parseStoreUrl, openSqlStore } from '../../src/store/open-store.ts';
import type { EventStore } from '../../src/store/port.ts';
import { postgresDriver } from '../../src/store/sql/postgres-driver.ts';
import { adminQuery, dropSchemas, freshSchemaName, storeUrl } from '../support/postgres.ts';
import { testEventStore, type ContractStoreOptions } from './event-store-contract.ts';

const schemaOf = new WeakMap<EventStore, string>();

async function openOn(schema: string, options: ContractStoreOptions = {}): Promise<EventStore> {
  const location = parseStoreUrl(storeUrl(schema));
  if (location.kind !== 'postgres') throw new Error('expected a postgres URL');
  const store = await openSqlStore(postgresDriver(location.connectionString), {
    schema,
    pollIntervalMs: 200,
    ...options,
  });
  schemaOf.set(store, schema);
  return store;
}

beforeAll(async () => {
  await adminQuery('select 1'); // fails loudly, with instructions, when PostgreSQL is down
});
afterAll(dropSchemas);

testEventStore('PostgreSQL', {
  open: (options) => openOn(freshSchemaName(), options),
  openPeer: (store, options) => openOn(schemaOf.get(store)!, options),
});
