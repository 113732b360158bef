import { PGlite } from '@electric-sql/pglite';
import { Kysely, PostgresDialect, sql, type Transaction } from 'kysely';
import { PGliteDialect } from 'kysely-pglite-dialect';
import pg from 'pg';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { openSqlStore } from '../../src/store/open-store.ts';
import type { EventStore, StoredEvent } from '../../src/store/port.ts';
import { postgresDriver } from '../../src/store/sql/postgres-driver.ts';
import type { SqlDriver } from '../../src/store/sql/sql-store.ts';
import type { LedgerTables } from '../../src/store/sql/tables.ts';
import type { Projection } from '../../src/subscriptions/projection.ts';
import {
  ProjectionRunner,
  type ProjectionRunnerOptions,
} from '../../src/subscriptions/projection-runner.ts';
import { TEST_PG_URL, adminQuery, dropSchemas, freshSchemaName } from '../support/postgres.ts';

/** The test read model: events counted per stream, plus every applied position (duplicates kept). */
interface CountTables {
  stream_counts: { stream: string; count: string };
  applied: { position: string; stream: string };
}

type ApplyHook = (trx: Transaction<CountTables>, events: readonly StoredEvent[]) => Promise<void>;

/** Counts `test.counted` events per stream; `calls` records the positions of every apply call. */
function countingProjection(onApply?: ApplyHook) {
  const calls: number[][] = [];
  const projection: Projection<CountTables> = {
    name: 'stream-counts',
    handles: (type) => type === 'test.counted',
    async setup(db, schema) {
      const s = db.schema.withSchema(schema);
      await s
        .createTable('stream_counts')
        .ifNotExists()
        .addColumn('stream', 'text', (c) => c.primaryKey())
        .addColumn('count', 'int8', (c) => c.notNull())
        .execute();
      await s
        .createTable('applied')
        .ifNotExists()
        .addColumn('position', 'int8', (c) => c.notNull())
        .addColumn('stream', 'text', (c) => c.notNull())
        .execute();
    },
    async apply(trx, events, schema) {
      calls.push(events.map((e) => e.position));
      for (const event of events) {
        await sql`insert into ${sql.table(`${schema}.stream_counts`)} (stream, count)
                  values (${event.stream}, 1)
                  on conflict (stream) do update set count = stream_counts.count + 1`.execute(trx);
      }
      await trx
        .withSchema(schema)
        .insertInto('applied')
        .values(events.map((e) => ({ position: String(e.position), stream: e.stream })))
        .execute();
      await onApply?.(trx, events);
    },
  };
  return { projection, calls };
}

/** Appends `count` counted events over three streams, in appends of up to 5, plus one ignored. */
async function appendEvents(store: EventStore, count: number, extra: object = {}): Promise<void> {
  for (let i = 0; i < count; i += 5) {
    const n = Math.min(5, count - i);
    await store.append(
      `s-${(i / 5) % 3}`,
      Array.from({ length: n }, (_, k) => ({ type: 'test.counted', data: { i: i + k, ...extra } })),
    );
  }
  await store.append('other', [{ type: 'test.ignored', data: {} }]);
}

/** The read model holds each counted event of the log up to `upTo` exactly once. */
async function expectExactlyOnce(
  store: EventStore,
  db: Kysely<CountTables>,
  schema: string,
  upTo?: number,
): Promise<void> {
  const log = await store.readAll({ limit: 100_000 });
  const counted = log.filter(
    (e) => e.type === 'test.counted' && (upTo === undefined || e.position <= upTo),
  );
  const expected: Record<string, number> = {};
  for (const e of counted) expected[e.stream] = (expected[e.stream] ?? 0) + 1;
  const rows = await db.withSchema(schema).selectFrom('stream_counts').selectAll().execute();
  expect(Object.fromEntries(rows.map((r) => [r.stream, Number(r.count)]))).toEqual(expected);
  const applied = await db.withSchema(schema).selectFrom('applied').select('position').execute();
  expect(applied.map((r) => Number(r.position)).sort((a, b) => a - b)).toEqual(
    counted.map((e) => e.position),
  );
}

interface Fixture {
  store: EventStore;
  db: Kysely<CountTables>;
  schema: string;
  /** Another connection pool on the same database (PostgreSQL), or the same one (PGlite). */
  otherDb(): Kysely<CountTables>;
}

/** Connection pools with the error listeners a killed backend needs (else Node crashes). */
function pgKysely(): Kysely<CountTables> {
  const pool = new pg.Pool({ connectionString: TEST_PG_URL, max: 4 });
  pool.on('error', () => undefined);
  pool.on('connect', (client) => client.on('error', () => undefined));
  return new Kysely<CountTables>({ dialect: new PostgresDialect({ pool }) });
}

let pglite: Kysely<LedgerTables>;
let counter = 0;
const cleanups: (() => Promise<void>)[] = [];
const runners: ProjectionRunner<CountTables>[] = [];

beforeAll(async () => {
  await adminQuery('select 1'); // PostgreSQL is required: fails loudly when it is down
  pglite = new Kysely<LedgerTables>({ dialect: new PGliteDialect(await PGlite.create()) });
}, 30_000);
afterEach(async () => {
  for (const runner of runners.splice(0)) await runner.stop();
  for (const cleanup of cleanups.splice(0)) await cleanup();
});
afterAll(async () => {
  await pglite.destroy();
  await dropSchemas();
});

const backends: { name: string; postgres: boolean; open(): Promise<Fixture> }[] = [
  {
    name: 'PGlite',
    postgres: false,
    async open() {
      counter += 1;
      const shared: SqlDriver = { db: pglite, close: () => Promise.resolve() };
      const store = await openSqlStore(shared, { schema: `log_${counter}`, pollIntervalMs: 50 });
      cleanups.push(() => store.close());
      const db = pglite as unknown as Kysely<CountTables>;
      return { store, db, schema: `rm_${counter}`, otherDb: () => db };
    },
  },
  {
    name: 'PostgreSQL',
    postgres: true,
    async open() {
      const logSchema = freshSchemaName('sublog');
      const store = await openSqlStore(postgresDriver(TEST_PG_URL), {
        schema: logSchema,
        pollIntervalMs: 50,
      });
      const dbs: Kysely<CountTables>[] = [];
      const otherDb = () => {
        const db = pgKysely();
        dbs.push(db);
        return db;
      };
      cleanups.push(async () => {
        await store.close();
        for (const db of dbs) await db.destroy();
      });
      return { store, db: otherDb(), schema: freshSchemaName('subrm'), otherDb };
    },
  },
];

function runner(
  f: Fixture,
  projection: Projection<CountTables>,
  options: Partial<ProjectionRunnerOptions<CountTables>> = {},
): ProjectionRunner<CountTables> {
  const r = new ProjectionRunner<CountTables>({
    store: f.store,
    db: f.db,
    schema: f.schema,
    projection,
    batchSize: 7,
    retryDelayMs: 10,
    lockPollMs: 100,
    ...options,
  });
  runners.push(r);
  return r;
}

for (const backend of backends) {
  describe(`ProjectionRunner on ${backend.name}`, () => {
    it('catches up from 0 in batches, then follows live appends, applying each event once', async () => {
      const f = await backend.open();
      await appendEvents(f.store, 30);
      const { projection, calls } = countingProjection();
      const r = runner(f, projection);
      await r.start();
      expect(await r.waitFor(await f.store.headPosition(), 5000)).toBe(true);
      await expectExactlyOnce(f.store, f.db, f.schema);
      expect(Math.max(...calls.map((c) => c.length))).toBeLessThanOrEqual(7);

      await appendEvents(f.store, 12);
      const head = await f.store.headPosition();
      expect(await r.waitFor(head, 5000)).toBe(true);
      await expectExactlyOnce(f.store, f.db, f.schema);
      expect(r.status()).toEqual({
        name: 'stream-counts',
        position: head,
        status: 'running',
        error: null,
        active: true,
      });
    });

    it('resumes from its checkpoint after stop and start', async () => {
      const f = await backend.open();
      await appendEvents(f.store, 20);
      const first = countingProjection();
      const r1 = runner(f, first.projection);
      await r1.start();
      const head1 = await f.store.headPosition();
      expect(await r1.waitFor(head1, 5000)).toBe(true);
      await r1.stop();
      expect(r1.status()).toMatchObject({ status: 'stopped', position: head1, active: false });

      await appendEvents(f.store, 10);
      const second = countingProjection();
      const r2 = runner(f, second.projection);
      await r2.start();
      expect(await r2.waitFor(await f.store.headPosition(), 5000)).toBe(true);
      expect(second.calls[0]?.[0]).toBe(head1 + 1); // nothing re-read, nothing skipped
      await expectExactlyOnce(f.store, f.db, f.schema);
    });

    it('rolls back a batch whose apply fails after writing rows, and retries it', async () => {
      const f = await backend.open();
      await appendEvents(f.store, 20);
      let failures = 0;
      const { projection, calls } = countingProjection(() => {
        if (failures >= 2) return Promise.resolve();
        failures += 1;
        return Promise.reject(new Error('transient'));
      });
      const r = runner(f, projection);
      await r.start();
      expect(await r.waitFor(await f.store.headPosition(), 5000)).toBe(true);
      expect(failures).toBe(2);
      expect(calls[0]).toEqual(calls[2]); // the same batch, tried again
      await expectExactlyOnce(f.store, f.db, f.schema);
      expect(r.status().status).toBe('running');
    });

    it('parks a poison event after bounded retries, commits the events before it and stalls', async () => {
      const f = await backend.open();
      await appendEvents(f.store, 10); // positions 1..10, then 11 ignored
      await f.store.append('s-poison', [{ type: 'test.counted', data: { poison: true } }]); // 12
      await appendEvents(f.store, 5); // 13..17, 18 ignored
      const { projection, calls } = countingProjection((_trx, events) =>
        events.some((e) => e.data.poison === true)
          ? Promise.reject(new Error('cannot count poison'))
          : Promise.resolve(),
      );
      const r = runner(f, projection, { batchSize: 500, maxAttempts: 3 });
      await r.start();
      expect(await r.waitFor(await f.store.headPosition(), 3000)).toBe(false); // stalls early
      await waitUntil(() => !r.status().active, 2000); // it stops and releases the lock

      expect(r.status()).toEqual({
        name: 'stream-counts',
        position: 11,
        status: 'stalled',
        error: 'cannot count poison (position 12)',
        active: false,
      });
      await expectExactlyOnce(f.store, f.db, f.schema, 11);
      const parked = await sql<{
        position: string;
        error: string;
        attempts: number;
        event: StoredEvent;
      }>`
        select position::text as position, error, attempts, event from ${sql.table(`${f.schema}.projection_parked`)}`.execute(
        f.db,
      );
      expect(parked.rows).toHaveLength(1);
      expect(parked.rows[0]).toMatchObject({
        position: '12',
        error: 'cannot count poison (position 12)',
        attempts: 4,
        event: { position: 12, stream: 's-poison' },
      });
      const checkpoint = await sql<{ status: string; error: string; position: string }>`
        select status, error, position::text as position from ${sql.table(`${f.schema}.projection_checkpoints`)}`.execute(
        f.db,
      );
      expect(checkpoint.rows).toEqual([
        { status: 'stalled', error: 'cannot count poison (position 12)', position: '11' },
      ]);

      // 3 tries of the batch, then 11 events one by one (10 handled + the poison one): no loop.
      const expectedCalls = 3 + 10 + 1;
      expect(calls).toHaveLength(expectedCalls);
      await new Promise((resolve) => setTimeout(resolve, 300));
      expect(calls).toHaveLength(expectedCalls);

      // Another runner does not retry a stalled projection unless told to.
      const again = countingProjection();
      const r2 = runner(f, again.projection);
      await r2.start();
      expect(await r2.waitFor(12, 300)).toBe(false);
      expect(again.calls).toHaveLength(0);
      expect(r2.status().status).toBe('stalled');

      // After a fix, an explicit retry applies the parked event and carries on.
      const fixed = countingProjection();
      const r3 = runner(f, fixed.projection);
      await r3.start({ retryStalled: true });
      expect(await r3.waitFor(await f.store.headPosition(), 5000)).toBe(true);
      expect(fixed.calls[0]?.[0]).toBe(12);
      expect(r3.status()).toMatchObject({ status: 'running', error: null, active: true });
      await expectExactlyOnce(f.store, f.db, f.schema);
    });

    it('stops promptly when stopped right after start', async () => {
      const f = await backend.open();
      await appendEvents(f.store, 5);
      const { projection } = countingProjection();
      const r = runner(f, projection);
      for (let i = 0; i < 3; i += 1) {
        await r.start();
        await r.stop();
        expect(r.status()).toMatchObject({ status: 'stopped', active: false });
      }
    });

    it('waitFor is true once caught up and false on timeout', async () => {
      const f = await backend.open();
      await appendEvents(f.store, 5);
      const { projection } = countingProjection();
      const r = runner(f, projection);
      expect(await r.waitFor(1, 50)).toBe(false); // not started
      await r.start();
      const head = await f.store.headPosition();
      expect(await r.waitFor(head, 5000)).toBe(true);
      const started = Date.now();
      expect(await r.waitFor(head + 1, 200)).toBe(false);
      expect(Date.now() - started).toBeGreaterThanOrEqual(190);
    });

    if (backend.postgres) {
      it('a runner killed mid-batch applies nothing twice and skips nothing after restart', async () => {
        const f = await backend.open();
        await appendEvents(f.store, 30);
        let stopping: Promise<void> | undefined;
        const dying = countingProjection(async (trx, events) => {
          if (stopping === undefined && events.some((e) => e.position >= 15)) {
            // The process dies: its rows are written, its connection goes before COMMIT.
            stopping = dyingRunner.stop();
            await sql`select pg_terminate_backend(pg_backend_pid())`.execute(trx);
          }
        });
        const dyingRunner = runner(f, dying.projection);
        await dyingRunner.start();
        await waitUntil(() => stopping !== undefined, 5000);
        await stopping;
        const checkpoint = dyingRunner.status().position;
        expect(checkpoint).toBeLessThan(15);
        await expectExactlyOnce(f.store, f.db, f.schema, checkpoint);

        const restarted = countingProjection();
        const r2 = runner(f, restarted.projection, { db: f.otherDb() });
        await r2.start();
        expect(await r2.waitFor(await f.store.headPosition(), 5000)).toBe(true);
        expect(restarted.calls[0]?.[0]).toBe(checkpoint + 1);
        await expectExactlyOnce(f.store, f.db, f.schema);
      });

      it('two runners on separate pools: one applies, the other takes over when it stops', async () => {
        const f = await backend.open();
        const a = countingProjection();
        const b = countingProjection();
        const ra = runner(f, a.projection);
        await ra.start();
        await waitUntil(() => ra.status().active, 5000);
        const rb = runner(f, b.projection, { db: f.otherDb() });
        await rb.start();

        await appendEvents(f.store, 20);
        const head1 = await f.store.headPosition();
        expect(await ra.waitFor(head1, 5000)).toBe(true);
        expect(await rb.waitFor(head1, 5000)).toBe(true); // the standby sees the checkpoint move
        expect(b.calls).toHaveLength(0);
        expect(rb.status().active).toBe(false);

        await ra.stop();
        const aCalls = a.calls.length;
        await appendEvents(f.store, 10);
        const head2 = await f.store.headPosition();
        expect(await rb.waitFor(head2, 5000)).toBe(true);
        expect(rb.status().active).toBe(true);
        expect(b.calls[0]?.[0]).toBe(head1 + 1);
        expect(a.calls).toHaveLength(aCalls);
        await expectExactlyOnce(f.store, f.db, f.schema);
      });
    }
  });
}

async function waitUntil(condition: () => boolean, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error('condition not met in time');
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}
