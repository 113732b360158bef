import { PGlite } from '@electric-sql/pglite';
import { Kysely, PostgresDialect, sql } from 'kysely';
import { PGliteDialect } from 'kysely-pglite-dialect';
import pg from 'pg';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { rowKey, type ProjectionFold } from '../../projections/projection.ts';
import { clearStalls } from '../../src/read-models/checkpoints.ts';
import {
  ProjectionEngine,
  setUpProjections,
  type ProjectionEngineOptions,
} from '../../src/read-models/projection-engine.ts';
import { readModelTableName, type AnyTables } from '../../src/read-models/read-model-tables.ts';
import { openSqlStore } from '../../src/store/open-store.ts';
import type { EventStore, StoredEvent } from '../../src/store/port.ts';
import { postgresDriver } from '../../src/store/sql/postgres-driver.ts';
import type { SqlDriver } from '../../src/store/sql/sql-store.ts';
import { TEST_PG_URL, adminQuery, dropSchemas, freshSchemaName } from '../support/postgres.ts';

/** The test read model: counted events per stream, and every counted event by position. */
interface CountTables {
  counts: { stream: string; count: number };
  applied: { position: number; stream: string };
}

/** A counting fold and the positions it applied, in order (a retried batch shows up again). */
interface Counting {
  fold: ProjectionFold<AnyTables>;
  seen: number[];
  /** Positions of the events it threw on, once per try. */
  refused: number[];
}

/**
 * Counts `test.counted` events per stream. With `refusePoison`, an event whose data says
 * `poison: true` is one the fold cannot read (a malformed stored event): it throws.
 */
function counting(name: string, options: { refusePoison?: boolean } = {}): Counting {
  const seen: number[] = [];
  const refused: number[] = [];
  const fold: ProjectionFold<CountTables> = {
    name,
    version: 1,
    tables: {
      counts: { primaryKey: ['stream'], description: 'Counted events per stream.' },
      applied: { primaryKey: ['position'], description: 'Every counted event, by position.' },
    },
    handles: (type) => type === 'test.counted',
    apply(event, lookup) {
      if (options.refusePoison === true && event.data.poison === true) {
        refused.push(event.position);
        throw new Error('cannot count poison');
      }
      const count = (lookup('counts', event.stream)?.count ?? 0) + 1;
      // After the lookup: a lookup of an uncached row throws, and the event is applied again.
      seen.push(event.position);
      return [
        { table: 'counts', key: rowKey(event.stream), row: { stream: event.stream, count } },
        {
          table: 'applied',
          key: rowKey(event.position),
          row: { position: event.position, stream: event.stream },
        },
      ];
    },
  };
  return { fold: fold as unknown as ProjectionFold<AnyTables>, seen, refused };
}

/** Appends `count` counted events over three streams, in appends of up to 5, plus one ignored. */
async function appendEvents(store: EventStore, count: number): Promise<void> {
  for (let i = 0; i < count; i += 5) {
    const n = Math.min(5, count - i);
    await store.append(
      `s-${(i / 5) % 3}`,
      Array.from({ length: n }, (_, k) => ({ type: 'test.counted', data: { i: i + k } })),
    );
  }
  await store.append('other', [{ type: 'test.ignored', data: {} }]);
}

/** Positions 1..10 counted, 11 ignored, 12 counted with `poison: true`, 13..17 counted, 18 ignored. */
async function appendWithPoisonAt12(store: EventStore): Promise<void> {
  await appendEvents(store, 10);
  await store.append('s-poison', [{ type: 'test.counted', data: { poison: true } }]);
  await appendEvents(store, 5);
}

interface Fixture {
  store: EventStore;
  db: Kysely<unknown>;
  schema: string;
  /** Another connection pool on the same database (PostgreSQL), or the same one (PGlite). */
  otherDb(): Kysely<unknown>;
}

/** The SQL table of `table` of fold `name`. */
function tableOf(f: Fixture, name: string, table: keyof CountTables) {
  return sql.table(`${f.schema}.${readModelTableName(name, table)}`);
}

/**
 * Fold `name` holds each counted event of the log up to `upTo` exactly once: per-stream counts
 * (an event applied twice counts twice) and the applied positions (an event skipped is missing).
 */
async function expectExactlyOnce(f: Fixture, name: string, upTo?: number): Promise<void> {
  const log = await f.store.readAll({ limit: 100_000 });
  const counted = log.filter(
    (e) => e.type === 'test.counted' && (upTo === undefined || e.position <= upTo),
  );
  const expected: Record<string, number> = {};
  for (const e of counted) expected[e.stream] = (expected[e.stream] ?? 0) + 1;
  const counts = await sql<{ stream: string; count: number }>`
    select row->>'stream' as stream, (row->>'count')::int as count
      from ${tableOf(f, name, 'counts')}`.execute(f.db);
  expect(Object.fromEntries(counts.rows.map((r) => [r.stream, r.count]))).toEqual(expected);
  const applied = await sql<{ position: number }>`
    select (row->>'position')::int as position from ${tableOf(f, name, 'applied')}
     order by 1`.execute(f.db);
  expect(applied.rows.map((r) => r.position)).toEqual(counted.map((e) => e.position));
}

/** Runs one DDL statement written out in full (schema names here are generated, never input). */
async function ddl(f: Fixture, text: string): Promise<void> {
  await sql.raw(text).execute(f.db);
}

/** A row trigger on fold `name`'s `table` running the PL/pgSQL `body` (which sees `new`). */
async function addTrigger(
  f: Fixture,
  name: string,
  table: keyof CountTables,
  trigger: string,
  body: string,
): Promise<void> {
  await ddl(
    f,
    `create function ${f.schema}.${trigger}() returns trigger language plpgsql as $$
     begin
       ${body}
       return new;
     end $$`,
  );
  await ddl(
    f,
    `create trigger ${trigger} before insert or update on ${f.schema}.${readModelTableName(name, table)}
       for each row execute function ${f.schema}.${trigger}()`,
  );
}

/** How many times `nextval` was called on a fresh sequence. */
async function sequenceCalls(f: Fixture, sequence: string): Promise<number> {
  const { rows } = await sql<{ calls: number }>`
    select case when is_called then last_value else 0 end::int as calls
      from ${sql.table(`${f.schema}.${sequence}`)}`.execute(f.db);
  return rows[0]!.calls;
}

async function parkedEvents(f: Fixture) {
  const { rows } = await sql<{
    name: string;
    position: string;
    error: string;
    attempts: number;
    event: StoredEvent;
  }>`select name, position::text as position, error, attempts, event
       from ${sql.table(`${f.schema}.projection_parked`)} order by name, position`.execute(f.db);
  return rows;
}

/** Connection pools with the error listeners a killed backend needs (else Node crashes). */
function pgKysely(): Kysely<unknown> {
  const pool = new pg.Pool({ connectionString: TEST_PG_URL, max: 4 });
  pool.on('error', () => undefined);
  pool.on('connect', (client) => client.on('error', () => undefined));
  return new Kysely<unknown>({ dialect: new PostgresDialect({ pool }) });
}

let pglite: Kysely<unknown>;
let counter = 0;
const cleanups: (() => Promise<void>)[] = [];
const engines: ProjectionEngine[] = [];

beforeAll(async () => {
  await adminQuery('select 1'); // PostgreSQL is required: fails loudly when it is down
  pglite = new Kysely<unknown>({ dialect: new PGliteDialect(await PGlite.create()) });
}, 30_000);
afterEach(async () => {
  for (const engine of engines.splice(0)) await engine.stop();
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
      const shared: SqlDriver = {
        db: pglite as unknown as SqlDriver['db'],
        close: () => Promise.resolve(),
      };
      const store = await openSqlStore(shared, { schema: `pelog_${counter}`, pollIntervalMs: 50 });
      cleanups.push(() => store.close());
      return { store, db: pglite, schema: `perm_${counter}`, otherDb: () => pglite };
    },
  },
  {
    name: 'PostgreSQL',
    postgres: true,
    async open() {
      const store = await openSqlStore(postgresDriver(TEST_PG_URL), {
        schema: freshSchemaName('pelog'),
        pollIntervalMs: 50,
      });
      const dbs: Kysely<unknown>[] = [];
      const otherDb = () => {
        const db = pgKysely();
        dbs.push(db);
        return db;
      };
      cleanups.push(async () => {
        await store.close();
        for (const db of dbs) await db.destroy();
      });
      return { store, db: otherDb(), schema: freshSchemaName('perm'), otherDb };
    },
  },
];

function engine(
  f: Fixture,
  folds: readonly Counting[],
  options: Partial<ProjectionEngineOptions> = {},
): ProjectionEngine {
  const e = new ProjectionEngine({
    store: f.store,
    db: f.db,
    schema: f.schema,
    folds: folds.map((c) => c.fold),
    batchSize: 7,
    retryDelayMs: 10,
    lockPollMs: 100,
    ...options,
  });
  engines.push(e);
  return e;
}

/** Creates the engine's tables up front, so triggers can be put on them before it runs. */
async function setUp(f: Fixture, folds: readonly Counting[]): Promise<void> {
  await setUpProjections(
    f.db,
    f.schema,
    folds.map((c) => c.fold),
  );
}

for (const backend of backends) {
  describe(`ProjectionEngine on ${backend.name}`, () => {
    it('catches up from 0 in batches, then follows live appends, applying each event once', async () => {
      const f = await backend.open();
      await appendEvents(f.store, 30); // 1..30 counted, 31 ignored
      const a = counting('count_a');
      const b = counting('count_b');
      await setUp(f, [a, b]);
      // Every checkpoint move, to see the batches.
      await ddl(f, `create table ${f.schema}.moves (name text, position int8, at serial)`);
      await ddl(
        f,
        `create function ${f.schema}.log_move() returns trigger language plpgsql as $$
         begin
           insert into ${f.schema}.moves (name, position) values (new.name, new.position);
           return new;
         end $$`,
      );
      await ddl(
        f,
        `create trigger log_move after update on ${f.schema}.projection_checkpoints for each row
           when (old.position is distinct from new.position)
           execute function ${f.schema}.log_move()`,
      );
      const moves = async (name: string) => {
        const { rows } = await sql<{ position: number }>`
          select position::int as position from ${sql.table(`${f.schema}.moves`)}
           where name = ${name} order by at`.execute(f.db);
        return rows.map((r) => r.position);
      };

      const e = engine(f, [a, b]);
      await e.start();
      expect(await e.waitFor('count_a', 31, 5000)).toBe(true);
      expect(await e.waitFor('count_b', 31, 5000)).toBe(true);
      // Full batches of 7, then the rest once the log is read to its end.
      expect(await moves('count_a')).toEqual([7, 14, 21, 28, 31]);
      expect(await moves('count_b')).toEqual([7, 14, 21, 28, 31]);
      for (const name of ['count_a', 'count_b']) await expectExactlyOnce(f, name);

      await appendEvents(f.store, 12);
      const head = await f.store.headPosition();
      for (const name of ['count_a', 'count_b']) {
        expect(await e.waitFor(name, head, 5000)).toBe(true);
        await expectExactlyOnce(f, name);
        const steps = (await moves(name)).map((p, i, all) => p - (all[i - 1] ?? 0));
        expect(steps.every((step) => step >= 1 && step <= 7)).toBe(true);
      }
      expect(a.seen).toEqual(b.seen);
      expect(e.isActive).toBe(true);
      expect(e.status()).toEqual(
        ['count_a', 'count_b'].map((name) => ({
          name,
          position: head,
          status: 'running',
          error: null,
          active: true,
        })),
      );
    });

    it('resumes from its checkpoints after stop and start', async () => {
      const f = await backend.open();
      await appendEvents(f.store, 20);
      const first = [counting('count_a'), counting('count_b')];
      const e1 = engine(f, first);
      await e1.start();
      const head1 = await f.store.headPosition();
      expect(await e1.waitFor('count_a', head1, 5000)).toBe(true);
      expect(await e1.waitFor('count_b', head1, 5000)).toBe(true);
      await e1.stop();
      for (const status of e1.status()) {
        expect(status).toMatchObject({ status: 'stopped', position: head1, active: false });
      }

      await appendEvents(f.store, 10);
      const head2 = await f.store.headPosition();
      const second = [counting('count_a'), counting('count_b')];
      const e2 = engine(f, second);
      await e2.start();
      for (const [i, name] of ['count_a', 'count_b'].entries()) {
        expect(await e2.waitFor(name, head2, 5000)).toBe(true);
        expect(second[i]!.seen[0]).toBe(head1 + 1); // nothing re-read, nothing skipped
        await expectExactlyOnce(f, name);
      }
    });

    it('a projection added later catches up from 0; the others, further on, apply nothing again', async () => {
      const f = await backend.open();
      await appendEvents(f.store, 20);
      const e1 = engine(f, [counting('count_b')]);
      await e1.start();
      const head1 = await f.store.headPosition();
      expect(await e1.waitFor('count_b', head1, 5000)).toBe(true);
      await e1.stop();

      await appendEvents(f.store, 5);
      const head2 = await f.store.headPosition();
      const a = counting('count_a');
      const b = counting('count_b');
      const e2 = engine(f, [a, b]);
      await e2.start();
      expect(await e2.waitFor('count_a', head2, 5000)).toBe(true);
      expect(await e2.waitFor('count_b', head2, 5000)).toBe(true);
      expect(a.seen[0]).toBe(1);
      // The log is read from 0 for the new one; the other folds only what it had not applied.
      expect(b.seen).toEqual([head1 + 1, head1 + 2, head1 + 3, head1 + 4, head1 + 5]);
      for (const name of ['count_a', 'count_b']) await expectExactlyOnce(f, name);
    });

    it('rolls back a batch whose write fails and retries it', async () => {
      const f = await backend.open();
      await appendEvents(f.store, 20);
      const a = counting('count_a');
      const b = counting('count_b');
      await setUp(f, [a, b]);
      // Sequences are not transactional: the write fails exactly twice, then succeeds.
      await ddl(f, `create sequence ${f.schema}.faults`);
      await addTrigger(
        f,
        'count_a',
        'counts',
        'transient_fault',
        `if nextval('${f.schema}.faults') <= 2 then raise exception 'transient fault'; end if;`,
      );
      const e = engine(f, [a, b]);
      await e.start();
      const head = await f.store.headPosition();
      expect(await e.waitFor('count_a', head, 5000)).toBe(true);
      expect(await e.waitFor('count_b', head, 5000)).toBe(true);
      expect(await sequenceCalls(f, 'faults')).toBeGreaterThan(2); // both faults happened
      for (const name of ['count_a', 'count_b']) await expectExactlyOnce(f, name);
      expect(e.status().map((s) => s.status)).toEqual(['running', 'running']);
      expect(await parkedEvents(f)).toEqual([]);
    });

    it('parks an event whose rows the database refuses and stalls that projection alone', async () => {
      const f = await backend.open();
      await appendWithPoisonAt12(f.store);
      const a = counting('count_a');
      const b = counting('count_b');
      await setUp(f, [a, b]);
      await addTrigger(
        f,
        'count_a',
        'applied',
        'refuse_12',
        `if (new.row->>'position')::int = 12 then raise exception 'row refused'; end if;`,
      );
      const e1 = engine(f, [a, b]);
      await e1.start();
      const head1 = await f.store.headPosition();
      expect(await e1.waitFor('count_b', head1, 5000)).toBe(true);
      expect(await e1.waitFor('count_a', head1, 1000)).toBe(false); // at once: it is stalled

      const error = 'row refused (position 12)';
      expect(e1.status()).toEqual([
        { name: 'count_a', position: 11, status: 'stalled', error, active: true },
        { name: 'count_b', position: head1, status: 'running', error: null, active: true },
      ]);
      await expectExactlyOnce(f, 'count_a', 11);
      await expectExactlyOnce(f, 'count_b');
      const parked = await parkedEvents(f);
      expect(parked).toHaveLength(1);
      // Tried 3 times with every projection, 3 times alone, then on its own: 4 for this event.
      expect(parked[0]).toMatchObject({
        name: 'count_a',
        position: '12',
        error,
        attempts: 4,
        event: { position: 12, stream: 's-poison' },
      });

      // Another engine started later does not retry a stalled projection unless told to.
      await e1.stop();
      expect(e1.status()[0]).toMatchObject({ status: 'stalled', error, active: false });
      const a2 = counting('count_a');
      const b2 = counting('count_b');
      const e2 = engine(f, [a2, b2]);
      await e2.start();
      await appendEvents(f.store, 5);
      const head2 = await f.store.headPosition();
      expect(await e2.waitFor('count_b', head2, 5000)).toBe(true);
      await new Promise((resolve) => setTimeout(resolve, 300)); // several stall checks
      expect(a2.seen).toEqual([]);
      expect(e2.status()[0]).toMatchObject({ position: 11, status: 'stalled', error });
      expect((await parkedEvents(f))[0]?.attempts).toBe(4);

      // Fixed, and the stall cleared while the engine runs: it picks the projection up again.
      await ddl(
        f,
        `drop trigger refuse_12 on ${f.schema}.${readModelTableName('count_a', 'applied')}`,
      );
      await clearStalls(f.db, f.schema, ['count_a']);
      // waitFor answers false at once while the engine still knows it stalled: wait for it to see.
      const cleared = Date.now();
      await waitUntil(() => e2.status()[0]!.status !== 'stalled', 2000);
      expect(Date.now() - cleared).toBeLessThan(1000); // checked every lockPollMs (100 ms)
      expect(await e2.waitFor('count_a', head2, 2000)).toBe(true);
      expect(a2.seen[0]).toBe(12);
      expect(e2.status()).toEqual([
        { name: 'count_a', position: head2, status: 'running', error: null, active: true },
        { name: 'count_b', position: head2, status: 'running', error: null, active: true },
      ]);
      for (const name of ['count_a', 'count_b']) await expectExactlyOnce(f, name);
    });

    it('stalls a projection whose fold throws at once, parks the event, and the others go on', async () => {
      const f = await backend.open();
      await appendWithPoisonAt12(f.store);
      const a = counting('count_a', { refusePoison: true });
      const b = counting('count_b');
      const e1 = engine(f, [a, b]);
      await e1.start();
      const head = await f.store.headPosition();
      expect(await e1.waitFor('count_b', head, 5000)).toBe(true);

      const error = 'cannot count poison (position 12)';
      expect(e1.status()).toEqual([
        { name: 'count_a', position: 11, status: 'stalled', error, active: true },
        { name: 'count_b', position: head, status: 'running', error: null, active: true },
      ]);
      // Folds are pure: the event is tried once, never retried, and nothing before it again.
      expect(a.refused).toEqual([12]);
      expect(a.seen).toEqual([...new Set(a.seen)]);
      const parked = await parkedEvents(f);
      expect(parked).toHaveLength(1);
      expect(parked[0]).toMatchObject({
        name: 'count_a',
        position: '12',
        error,
        attempts: 1,
        event: { position: 12, stream: 's-poison', data: { poison: true } },
      });
      const { rows: checkpoints } = await sql<{ name: string; position: string; status: string }>`
        select name, position::text as position, status
          from ${sql.table(`${f.schema}.projection_checkpoints`)} order by name`.execute(f.db);
      expect(checkpoints).toEqual([
        { name: 'count_a', position: '11', status: 'stalled' },
        { name: 'count_b', position: String(head), status: 'running' },
      ]);
      await expectExactlyOnce(f, 'count_a', 11);
      await expectExactlyOnce(f, 'count_b');

      // A fixed fold, started with retryStalled, applies the parked event and carries on.
      await e1.stop();
      const fixed = counting('count_a');
      const e2 = engine(f, [fixed, counting('count_b')]);
      await e2.start({ retryStalled: true });
      expect(await e2.waitFor('count_a', head, 5000)).toBe(true);
      expect(fixed.seen[0]).toBe(12);
      expect(e2.status()[0]).toMatchObject({ status: 'running', error: null, active: true });
      for (const name of ['count_a', 'count_b']) await expectExactlyOnce(f, name);
    });

    it('stops promptly when stopped right after start', async () => {
      const f = await backend.open();
      await appendEvents(f.store, 5);
      const e = engine(f, [counting('count_a'), counting('count_b')]);
      for (let i = 0; i < 3; i += 1) {
        await e.start();
        const stopping = Date.now();
        await e.stop();
        expect(Date.now() - stopping).toBeLessThan(2000);
        expect(e.isActive).toBe(false);
        for (const status of e.status()) {
          expect(status).toMatchObject({ status: 'stopped', active: false });
        }
      }
      const { rows } = await sql<{ status: string }>`
        select status from ${sql.table(`${f.schema}.projection_checkpoints`)}`.execute(f.db);
      expect(rows.map((r) => r.status)).toEqual(['stopped', 'stopped']);
    });

    it('waitFor is true once caught up and false on timeout', async () => {
      const f = await backend.open();
      await appendEvents(f.store, 5);
      const e = engine(f, [counting('count_a')]);
      expect(await e.waitFor('count_a', 1, 50)).toBe(false); // not started
      await e.start();
      const head = await f.store.headPosition();
      expect(await e.waitFor('count_a', head, 5000)).toBe(true);
      const started = Date.now();
      expect(await e.waitFor('count_a', head + 1, 200)).toBe(false);
      expect(Date.now() - started).toBeGreaterThanOrEqual(190);
      expect(await e.waitFor('no_such_projection', 1, 50)).toBe(false);
    });

    if (backend.postgres) {
      it('restarts on a fresh connection when its backend is killed mid-batch', async () => {
        const f = await backend.open();
        await appendEvents(f.store, 30);
        const a = counting('count_a');
        const b = counting('count_b');
        await setUp(f, [a, b]);
        await ddl(f, `create sequence ${f.schema}.kills`);
        // Once, while writing the batch holding position 15: its rows are written, then the
        // connection (which holds the projector lock) dies before the statement ends.
        await addTrigger(
          f,
          'count_a',
          'applied',
          'kill_once',
          `if (new.row->>'position')::int >= 15 then
             if nextval('${f.schema}.kills') = 1 then
               perform pg_terminate_backend(pg_backend_pid());
             end if;
           end if;`,
        );
        const e = engine(f, [a, b]);
        await e.start();
        const head = await f.store.headPosition();
        expect(await e.waitFor('count_a', head, 10_000)).toBe(true);
        expect(await e.waitFor('count_b', head, 5000)).toBe(true);
        expect(await sequenceCalls(f, 'kills')).toBeGreaterThanOrEqual(1); // the kill happened
        // The killed batch (15..21) was folded again after the restart.
        expect(a.seen.filter((p) => p === 15)).toHaveLength(2);
        for (const name of ['count_a', 'count_b']) await expectExactlyOnce(f, name);
        expect(await parkedEvents(f)).toEqual([]);
        expect(e.status().map((s) => [s.status, s.active])).toEqual([
          ['running', true],
          ['running', true],
        ]);
      });

      it('two engines on separate pools: one applies, the other takes over when it stops', async () => {
        const f = await backend.open();
        const a = counting('count_a');
        const b = counting('count_a');
        const ea = engine(f, [a]);
        await ea.start();
        await waitUntil(() => ea.isActive, 5000);
        const eb = engine(f, [b], { db: f.otherDb() });
        await eb.start();

        await appendEvents(f.store, 20);
        const head1 = await f.store.headPosition();
        expect(await ea.waitFor('count_a', head1, 5000)).toBe(true);
        // The standby follows the checkpoints as it polls for the lock.
        expect(await eb.waitFor('count_a', head1, 1000)).toBe(true);
        expect(eb.status()).toEqual([
          { name: 'count_a', position: head1, status: 'running', error: null, active: false },
        ]);
        expect(b.seen).toEqual([]);

        await ea.stop();
        const applied = a.seen.length;
        await appendEvents(f.store, 10);
        const head2 = await f.store.headPosition();
        expect(await eb.waitFor('count_a', head2, 5000)).toBe(true);
        expect(eb.isActive).toBe(true);
        expect(b.seen[0]).toBe(head1 + 1);
        expect(a.seen).toHaveLength(applied);
        await expectExactlyOnce(f, 'count_a');
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
