import { PGlite } from '@electric-sql/pglite';
import { Kysely, PostgresDialect } from 'kysely';
import { PGliteDialect } from 'kysely-pglite-dialect';
import pg from 'pg';
import { afterAll, afterEach, beforeAll } from 'vitest';
import { openSqlStore } from '../../src/store/open-store.ts';
import type { EventStore, StoredEvent } from '../../src/store/port.ts';
import { postgresDriver } from '../../src/store/sql/postgres-driver.ts';
import type { SqlDriver } from '../../src/store/sql/sql-store.ts';
import { TEST_PG_URL, adminQuery, dropSchemas, freshSchemaName } from './postgres.ts';

/** A log and a place for read models: on PGlite both share one connection, as in `ledger serve`. */
export interface ReadModelFixture {
  store: EventStore;
  db: Kysely<unknown>;
  schema: string;
}

export interface ReadModelBackend {
  name: 'PGlite' | 'PostgreSQL';
  open(): Promise<ReadModelFixture>;
}

/**
 * The two SQL backends read models run on, with hooks registered in the calling test file: one
 * in-memory PGlite for the file, fresh schemas on the test PostgreSQL (required, never skipped),
 * and everything opened closed after each test. Register hooks that must run before the closing
 * (stopping runners) after calling this: later `afterEach` hooks run first.
 */
export function readModelBackends(
  prefix: string,
  options: { poolMax?: number; pollIntervalMs?: number } = {},
): ReadModelBackend[] {
  let pglite: Kysely<unknown>;
  let counter = 0;
  const cleanups: (() => Promise<void>)[] = [];
  const storeOptions =
    options.pollIntervalMs === undefined ? {} : { pollIntervalMs: options.pollIntervalMs };

  beforeAll(async () => {
    await adminQuery('select 1'); // PostgreSQL is required: fails loudly when it is down
    pglite = new Kysely<unknown>({ dialect: new PGliteDialect(await PGlite.create()) });
  }, 30_000);
  afterEach(async () => {
    for (const cleanup of cleanups.splice(0)) await cleanup();
  });
  afterAll(async () => {
    await pglite.destroy();
    await dropSchemas();
  });

  return [
    {
      name: 'PGlite',
      async open() {
        counter += 1;
        const shared: SqlDriver = {
          db: pglite as unknown as SqlDriver['db'],
          close: () => Promise.resolve(),
        };
        const store = await openSqlStore(shared, {
          schema: `${prefix}log_${counter}`,
          ...storeOptions,
        });
        cleanups.push(() => store.close());
        return { store, db: pglite, schema: `${prefix}sql_${counter}` };
      },
    },
    {
      name: 'PostgreSQL',
      async open() {
        const store = await openSqlStore(postgresDriver(TEST_PG_URL), {
          schema: freshSchemaName(`${prefix}log`),
          ...storeOptions,
        });
        const pool = new pg.Pool({ connectionString: TEST_PG_URL, max: options.poolMax ?? 8 });
        pool.on('error', () => undefined); // a backend killed by a test
        const db = new Kysely<unknown>({ dialect: new PostgresDialect({ pool }) });
        cleanups.push(async () => {
          await store.close();
          await db.destroy();
        });
        return { store, db, schema: freshSchemaName(`${prefix}sql`) };
      },
    },
  ];
}

/** Appends stored events (as the projections' test log built them) one by one to `store`. */
export async function appendAll(store: EventStore, events: readonly StoredEvent[]): Promise<void> {
  for (const event of events) {
    await store.append(event.stream, [{ type: event.type, data: event.data }]);
  }
}
