import { PGlite } from '@electric-sql/pglite';
import { Kysely, PostgresDialect, sql } from 'kysely';
import { PGliteDialect } from 'kysely-pglite-dialect';
import pg from 'pg';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import {
  projections,
  replayProjection,
  snapshot,
  type Projection as PureProjection,
} from '../../projections/index.ts';
import { digestOf, readModelSnapshot, scanTable } from '../../src/read-models/compare-tables.ts';
import { readModelTableName, readModelTables } from '../../src/read-models/read-model-tables.ts';
import { sqlReadModel, type SqlReadModel } from '../../src/read-models/sql-read-model.ts';
import { openSqlStore } from '../../src/store/open-store.ts';
import type { EventStore, StoredEvent } from '../../src/store/port.ts';
import { postgresDriver } from '../../src/store/sql/postgres-driver.ts';
import type { SqlDriver } from '../../src/store/sql/sql-store.ts';
import type { Projection } from '../../src/subscriptions/projection.ts';
import { ProjectionRunner } from '../../src/subscriptions/projection-runner.ts';
import { TEST_PG_URL, adminQuery, dropSchemas, freshSchemaName } from '../support/postgres.ts';
import { realisticLog } from '../unit/support/projection-given.ts';

interface Fixture {
  store: EventStore;
  db: Kysely<unknown>;
  schema: string;
}

let pglite: Kysely<unknown>;
let counter = 0;
const cleanups: (() => Promise<void>)[] = [];
const runners: ProjectionRunner<unknown>[] = [];

beforeAll(async () => {
  await adminQuery('select 1'); // PostgreSQL is required: fails loudly when it is down
  pglite = new Kysely<unknown>({ dialect: new PGliteDialect(await PGlite.create()) });
}, 30_000);
afterEach(async () => {
  for (const runner of runners.splice(0)) await runner.stop();
  for (const cleanup of cleanups.splice(0)) await cleanup();
});
afterAll(async () => {
  await pglite.destroy();
  await dropSchemas();
});

const backends: { name: string; open(): Promise<Fixture> }[] = [
  {
    name: 'PGlite',
    async open() {
      counter += 1;
      const shared: SqlDriver = {
        db: pglite as unknown as SqlDriver['db'],
        close: () => Promise.resolve(),
      };
      const store = await openSqlStore(shared, { schema: `rmlog_${counter}`, pollIntervalMs: 50 });
      cleanups.push(() => store.close());
      return { store, db: pglite, schema: `rmsql_${counter}` };
    },
  },
  {
    name: 'PostgreSQL',
    async open() {
      const store = await openSqlStore(postgresDriver(TEST_PG_URL), {
        schema: freshSchemaName('rmlog'),
        pollIntervalMs: 50,
      });
      const pool = new pg.Pool({ connectionString: TEST_PG_URL, max: 8 }); // a connection held per runner
      pool.on('error', () => undefined);
      const db = new Kysely<unknown>({ dialect: new PostgresDialect({ pool }) });
      cleanups.push(async () => {
        await store.close();
        await db.destroy();
      });
      return { store, db, schema: freshSchemaName('rmsql') };
    },
  },
];

const pures = projections as unknown as PureProjection<Record<string, unknown>>[];

/** Appends stored events (as the projections' test log built them) one by one to `store`. */
async function appendAll(store: EventStore, events: readonly StoredEvent[]): Promise<void> {
  for (const event of events) {
    await store.append(event.stream, [{ type: event.type, data: event.data }]);
  }
}

function start(f: Fixture, projection: Projection, batchSize = 500): ProjectionRunner<unknown> {
  const runner = new ProjectionRunner<unknown>({
    store: f.store,
    db: f.db,
    schema: f.schema,
    projection,
    batchSize,
    retryDelayMs: 10,
    lockPollMs: 100,
  });
  runners.push(runner);
  return runner;
}

/** What the pure fold makes of the whole log, as JSON (what `jsonb` can hold). */
async function expectedSnapshot(store: EventStore, pure: PureProjection<Record<string, unknown>>) {
  const events = await store.readAll({ limit: 100_000 });
  return JSON.parse(JSON.stringify(snapshot(replayProjection(pure, events)))) as Record<
    string,
    unknown[]
  >;
}

/**
 * The tables equal the replay of the log (deep and by digest), and every row the adapter has
 * cached (present or absent) is what the table holds.
 */
async function expectMatchesReplay(f: Fixture, adapters: readonly SqlReadModel[]): Promise<void> {
  let tables = 0;
  for (const adapter of adapters) {
    const expected = await expectedSnapshot(f.store, adapter.pure);
    const actual = await readModelSnapshot(f.db, f.schema, adapter.pure);
    tables += Object.keys(expected).length;
    expect(actual).toEqual(expected);
    expect(digestOf(actual)).toBe(digestOf(expected));
    const names = readModelTables(adapter.pure);
    for (const [table, rows] of adapter.cachedRows()) {
      const stored = new Map<string, unknown>();
      for await (const { key, row } of scanTable(f.db, f.schema, names.get(table)!)) {
        stored.set(key, row);
      }
      for (const [key, row] of rows) expect(stored.get(key)).toEqual(row);
    }
  }
  expect(tables).toBeGreaterThan(3);
}

/** Delegates to `inner`, but fails the first batch that changes rows, after the adapter wrote. */
function failingOnce(inner: SqlReadModel): { projection: Projection; failures: () => number } {
  let failures = 0;
  let armed = true;
  const projection: Projection = {
    name: inner.name,
    ...(inner.version === undefined ? {} : { version: inner.version }),
    handles: (type) => inner.handles?.(type) ?? true,
    setup: (db, schema) => inner.setup(db, schema),
    async apply(trx, events, schema) {
      await inner.apply(trx, events, schema);
      if (armed) {
        armed = false;
        failures += 1;
        throw new Error('injected failure after the adapter wrote');
      }
    },
    committed: () => inner.committed?.(),
    rolledBack: () => inner.rolledBack?.(),
  };
  return { projection, failures: () => failures };
}

describe('readModelTableName', () => {
  it('names <projection>__<table> and rejects unsafe or too long names', () => {
    expect(readModelTableName('mission_state', 'mission_state')).toBe(
      'mission_state__mission_state',
    );
    expect(() => readModelTableName('Mission', 'x')).toThrow(/must match/);
    expect(() => readModelTableName('a"; drop', 'x')).toThrow(/must match/);
    expect(() => readModelTableName('a'.repeat(40), 'b'.repeat(30))).toThrow(/longer than/);
  });
});

for (const backend of backends) {
  describe(`sqlReadModel on ${backend.name}`, () => {
    it('matches the in-memory replay, survives a failed batch, and resumes after a restart', async () => {
      const f = await backend.open();
      const log = realisticLog().events;
      const third = Math.ceil(log.length / 3);

      // 1. Catch up on the first third: one batch, keys changed several times in it.
      await appendAll(f.store, log.slice(0, third));
      let adapters = pures.map((pure) => sqlReadModel(pure));
      for (const adapter of adapters) await start(f, adapter).start();
      let head = await f.store.headPosition();
      for (const r of runners)
        expect(await r.waitFor(head, 10_000), JSON.stringify(r.status())).toBe(true);
      await expectMatchesReplay(f, adapters);
      const { rows } = await sql<{ name: string }>`
        select table_name as name from information_schema.tables
         where table_schema = ${f.schema} and table_name like '%\\_\\_%' order by 1`.execute(f.db);
      expect(rows.map((r) => r.name)).toEqual(
        pures.flatMap((pure) => [...readModelTables(pure).values()]).sort(),
      );

      // 2. A batch whose transaction fails after the adapter wrote: retried, nothing doubled.
      for (const r of runners.splice(0)) await r.stop();
      adapters = pures.map((pure) => sqlReadModel(pure));
      const failing = adapters.map((adapter) => failingOnce(adapter));
      for (const { projection } of failing) await start(f, projection, 3).start();
      await appendAll(f.store, log.slice(third, 2 * third));
      head = await f.store.headPosition();
      for (const r of runners)
        expect(await r.waitFor(head, 10_000), JSON.stringify(r.status())).toBe(true);
      const slice = log.slice(third, 2 * third);
      failing.forEach(({ failures }, i) => {
        expect(failures()).toBe(slice.some((e) => pures[i]!.handles(e.type)) ? 1 : 0);
      });
      expect(failing[0]!.failures()).toBe(1);
      for (const r of runners) expect(r.status()).toMatchObject({ status: 'running', error: null });
      await expectMatchesReplay(f, adapters);
      expect(adapters[0]!.cachedRows().size).toBeGreaterThan(0);

      // 3. Stop; new runners and new adapter instances continue from the checkpoint, with a cache
      // of two rows: nearly every lookup is a miss fetched in the middle of `apply`.
      for (const r of runners.splice(0)) await r.stop();
      const before = await Promise.all(
        pures.map((pure) => readModelSnapshot(f.db, f.schema, pure)),
      );
      adapters = pures.map((pure) => sqlReadModel(pure, { maxCachedRows: 2 }));
      for (const adapter of adapters) await start(f, adapter, 7).start();
      await appendAll(f.store, log.slice(2 * third));
      head = await f.store.headPosition();
      for (const r of runners)
        expect(await r.waitFor(head, 10_000), JSON.stringify(r.status())).toBe(true);
      await expectMatchesReplay(f, adapters);
      const after = await Promise.all(pures.map((pure) => readModelSnapshot(f.db, f.schema, pure)));
      expect(after.map((s) => digestOf(s))).not.toEqual(before.map((s) => digestOf(s)));
    }, 60_000);
  });
}
