import { createHash, randomUUID } from 'node:crypto';
import { PGlite } from '@electric-sql/pglite';
import { Kysely, sql } from 'kysely';
import { PGliteDialect } from 'kysely-pglite-dialect';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import {
  quoteIdentifier,
  type FrozenMigration,
} from '../../src/schema-migrations/frozen-migration.ts';
import { migrateSchema, type MigrationList } from '../../src/schema-migrations/migrator.ts';
import type { NewEvent } from '../../src/store/port.ts';
import { eventStoreMigrations, migrateToLatest } from '../../src/store/sql/migrations.ts';
import { postgresDriver } from '../../src/store/sql/postgres-driver.ts';
import { SqlEventStore, type SqlDriver } from '../../src/store/sql/sql-store.ts';
import {
  checkpointMigrations,
  migrateCheckpointTables,
} from '../../src/read-models/checkpoint-migrations.ts';
import {
  createCheckpointRow,
  moveCheckpoints,
  readCheckpoint,
} from '../../src/read-models/checkpoints.ts';
import { TEST_PG_URL, adminQuery, dropSchemas, freshSchemaName } from '../support/postgres.ts';

/*
 * A shipped migration is never edited: a schema migrated by an old release must have passed
 * through exactly the states a fresh one passes through today. These digests pin the text of each
 * one (rendered for the schema `ledger`); a change to a migration's text fails here. Fix the code
 * that changed it, or add a new migration; never update a digest of a shipped one. A new migration
 * adds its digest here when it ships.
 */
const PINNED_SHA256: Record<string, string> = {
  '0001_event_log': '6c1b7014dfa47f7cb997e7dfbe4786e47c674efd19d44bb5171664d23683cfd4',
  '0002_append_batch_insert_at_once':
    '5290e0c4c53ab450a71e2dc4158fa102cc89a0da0ec640168a832134f33b8f0f',
  '0003_append_batch_decides_in_full':
    '8afded13029cdb75b6f9f3979cc400f723d4fdbe930e31a06c366997e3a0fbf9',
  '0001_checkpoint_tables': '73e672d45b3dff8feea8091aafb34b2c3b3b8692d047a95627dc3227951e7cec',
  '0002_checkpoint_generation_and_version':
    'b48e683e288ac94b16400d58842f589e30b843d2dc4d61a02328029fb9c29464',
};

const digest = (m: FrozenMigration) =>
  createHash('sha256')
    .update(m.statements(quoteIdentifier('ledger')).join('\n;\n'))
    .digest('hex');

describe('frozen migrations', () => {
  it('keep the text they shipped with', () => {
    const all = [...eventStoreMigrations.migrations, ...checkpointMigrations.migrations];
    expect(Object.fromEntries(all.map((m) => [m.name, digest(m)]))).toEqual(PINNED_SHA256);
  });

  it('run in the order they shipped, which is the order of their names', () => {
    for (const list of [eventStoreMigrations, checkpointMigrations]) {
      const names = list.migrations.map((m) => m.name);
      expect(names).toEqual([...names].sort());
      expect(new Set(names).size).toBe(names.length);
    }
  });

  it('quote the schema as an identifier', () => {
    expect(quoteIdentifier('ledger')).toBe('"ledger"');
    expect(quoteIdentifier('a"b')).toBe('"a""b"');
  });
});

interface Backend {
  name: 'PGlite' | 'PostgreSQL';
  /** A fresh schema and a driver for it; closed after the test. */
  open(): { driver: SqlDriver; schema: string };
}

let pglite: Kysely<unknown>;
let counter = 0;
const cleanups: (() => Promise<void>)[] = [];

beforeAll(async () => {
  await adminQuery('select 1'); // PostgreSQL is required: fails loudly when it is down
  pglite = new Kysely<unknown>({ dialect: new PGliteDialect(await PGlite.create()) });
}, 60_000);
afterEach(async () => {
  for (const cleanup of cleanups.splice(0)) await cleanup();
});
afterAll(async () => {
  await pglite.destroy();
  await dropSchemas();
});

const backends: Backend[] = [
  {
    name: 'PGlite',
    open() {
      counter += 1;
      const driver: SqlDriver = {
        db: pglite as unknown as SqlDriver['db'],
        close: () => Promise.resolve(),
      };
      return { driver, schema: `mg_${counter}` };
    },
  },
  {
    name: 'PostgreSQL',
    open() {
      const driver = postgresDriver(TEST_PG_URL);
      cleanups.push(() => driver.close());
      return { driver, schema: freshSchemaName('mg') };
    },
  },
];

const namesUpTo = (list: MigrationList, last: string) =>
  list.migrations.map((m) => m.name).filter((name) => name <= last);
const namesAfter = (list: MigrationList, last: string) =>
  list.migrations.map((m) => m.name).filter((name) => name > last);

/** An event as a release's store handed it to SQL: type, data and idempotency key. */
interface RawEvent {
  type: string;
  data: Record<string, unknown>;
  key?: string;
}

/** What an append looked like to `append_batch` in every release: the arrays it takes. */
interface RawAppend {
  stream: string;
  expected: string;
  events: RawEvent[];
}

const RECORDED_AT = '2026-11-22T02:51:02.000Z';
const metadataOf = (key: string | undefined) =>
  key === undefined
    ? { recorded_at: RECORDED_AT }
    : { idempotency_key: key, recorded_at: RECORDED_AT };

/** Appends through the schema's `append_batch` as the store of its release called it. */
async function appendBatch(
  db: Kysely<unknown>,
  schema: string,
  appends: RawAppend[],
): Promise<string[]> {
  const events = appends.flatMap((a, i) => a.events.map((e) => ({ ...e, append: i + 1 })));
  const { rows } = await sql<{ outcome: string }>`
    select outcome from ${sql.table(`${schema}.append_batch`)}(
      ${appends.map((a) => a.stream)}::text[],
      ${appends.map((a) => a.expected)}::text[],
      ${appends.map((a) => a.events.length)}::int4[],
      ${events.map((e) => e.append)}::int4[],
      ${events.map(() => randomUUID())}::uuid[],
      ${events.map((e) => e.type)}::text[],
      ${JSON.stringify(events.map((e) => e.data))}::json,
      ${JSON.stringify(events.map((e) => metadataOf(e.key)))}::json,
      ${events.map((e) => e.key ?? null)}::text[],
      ${`ledger_${schema}`})`.execute(db);
  return rows.map((r) => r.outcome);
}

const A1: RawEvent = { type: 'mission.dispatched', data: { mission_id: 'a', n: 1 }, key: 'a-1' };
const A2: RawEvent = {
  type: 'mission.accepted',
  data: { mission_id: 'a', note: 'é ✓' },
  key: 'a-2',
};
const A3: RawEvent = {
  type: 'mission.completed',
  data: { mission_id: 'a', nested: { x: [1, 2] } },
  key: 'a-3',
};
const B1: RawEvent = { type: 'mission.dispatched', data: { mission_id: 'b' }, key: 'b-1' };
const C1: RawEvent = { type: 'note.added', data: { text: 'no key' } };

/** The log every release's test writes: A has 3 events, B 1, C 1; positions 1 to 5. */
const WRITTEN: (RawEvent & { position: number; stream: string; revision: number })[] = [
  { position: 1, stream: 'A', revision: 0, ...A1 },
  { position: 2, stream: 'A', revision: 1, ...A2 },
  { position: 3, stream: 'B', revision: 0, ...B1 },
  { position: 4, stream: 'C', revision: 0, ...C1 },
  { position: 5, stream: 'A', revision: 2, ...A3 },
];

const asNew = (e: RawEvent): NewEvent =>
  e.key === undefined
    ? { type: e.type, data: e.data }
    : { type: e.type, data: e.data, metadata: { idempotency_key: e.key } };

/** Checks through today's store that the log written before the upgrade is intact and usable. */
async function expectLogIntact(driver: SqlDriver, schema: string): Promise<void> {
  const store = new SqlEventStore(driver, { schema });
  try {
    const all = await store.readAll({ after: 0, limit: 100 });
    expect(
      all.map((e) => ({
        position: e.position,
        stream: e.stream,
        revision: e.revision,
        type: e.type,
        data: e.data,
        key: e.metadata.idempotency_key,
        recordedAt: e.metadata.recorded_at,
      })),
    ).toEqual(WRITTEN.map(({ key, ...e }) => ({ ...e, key, recordedAt: RECORDED_AT })));
    expect((await store.readStream('A')).map((e) => [e.revision, e.type])).toEqual([
      [0, A1.type],
      [1, A2.type],
      [2, A3.type],
    ]);
    expect(await store.headPosition()).toBe(5);

    // A retry of an old append is recognised by its idempotency keys.
    const retry = await store.append('A', [asNew(A1), asNew(A2)], {
      expectedRevision: 'no_stream',
    });
    expect(retry).toMatchObject({ duplicate: true, positions: [1, 2], revisions: [0, 1] });
    // A key reused for other content is refused.
    await expect(
      store.append('B', [{ ...asNew(B1), data: { other: true } }], {
        expectedRevision: 'no_stream',
      }),
    ).rejects.toMatchObject({ code: 'IDEMPOTENCY_KEY_REUSED' });

    // New appends take the next dense positions, through the one statement and append_batch.
    const stated = await store.append('B', [asNew({ ...B1, key: 'b-2' })], {
      expectedRevision: 0,
    });
    expect(stated).toMatchObject({ duplicate: false, positions: [6], revisions: [1] });
    const any = await store.append('C', [asNew(C1)], { expectedRevision: 'any' });
    expect(any).toMatchObject({ duplicate: false, positions: [7], revisions: [1] });
    expect((await store.readAll({ after: 0, limit: 100 })).map((e) => e.position)).toEqual([
      1, 2, 3, 4, 5, 6, 7,
    ]);
  } finally {
    await store.close();
  }
}

/** The body of `append_batch` as the schema holds it. */
async function appendBatchBody(db: Kysely<unknown>, schema: string): Promise<string | undefined> {
  const { rows } = await sql<{ prosrc: string }>`
    select p.prosrc from pg_proc p join pg_namespace n on n.oid = p.pronamespace
     where n.nspname = ${schema} and p.proname = 'append_batch'`.execute(db);
  expect(rows.length).toBeLessThanOrEqual(1);
  return rows[0]?.prosrc;
}

/** The body the latest migration creating `append_batch` gives it. */
function latestAppendBatchBody(schema: string): string {
  const texts = eventStoreMigrations.migrations.flatMap((m) =>
    m.statements(quoteIdentifier(schema)),
  );
  const last = texts.filter((t) => t.includes('function')).at(-1)!;
  return /\$fn\$([\s\S]*)\$fn\$/.exec(last)![1]!;
}

const headOf = async (db: Kysely<unknown>, schema: string) => {
  const { rows } = await sql<{ position: string | number }>`
    select position from ${sql.table(`${schema}.head`)} where id = 1`.execute(db);
  return Number(rows[0]?.position);
};

for (const backend of backends) {
  describe(`event store migrations on ${backend.name}`, () => {
    const earlier = eventStoreMigrations.migrations.slice(0, -1).map((m) => m.name);

    for (const at of earlier) {
      it(`a log written at ${at} upgrades to the latest with its events intact`, async () => {
        const { driver, schema } = backend.open();
        const db = driver.db as unknown as Kysely<unknown>;
        expect(await migrateSchema(db, schema, eventStoreMigrations, at)).toEqual(
          namesUpTo(eventStoreMigrations, at),
        );
        const atBody = await appendBatchBody(db, schema);
        expect(atBody).toBeDefined();

        // As that release's store wrote: the keyless append expecting `any` and the others in one
        // batch, the stated revision in the next, then a retry answered as a duplicate.
        expect(
          await appendBatch(db, schema, [
            { stream: 'A', expected: 'no_stream', events: [A1, A2] },
            { stream: 'B', expected: 'no_stream', events: [B1] },
            { stream: 'C', expected: 'any', events: [C1] },
          ]),
        ).toEqual(['ok', 'ok', 'ok']);
        expect(
          await appendBatch(db, schema, [{ stream: 'A', expected: '1', events: [A3] }]),
        ).toEqual(['ok']);
        expect(
          await appendBatch(db, schema, [{ stream: 'B', expected: 'no_stream', events: [B1] }]),
        ).toEqual(['duplicate']);
        expect(await headOf(db, schema)).toBe(5);

        expect(await migrateToLatest(db, schema)).toEqual(namesAfter(eventStoreMigrations, at));
        expect(await migrateToLatest(db, schema)).toEqual([]);
        const body = await appendBatchBody(db, schema);
        expect(body).not.toBe(atBody);
        expect(body).toBe(latestAppendBatchBody(schema));
        await expectLogIntact(driver, schema);
      }, 30_000);
    }

    it('a log whose 0001 created no append_batch upgrades too', async () => {
      // 0001 first shipped without append_batch (the store inserted rows itself); a schema
      // migrated then records 0001 and lacks the function, which 0002 creates.
      const { driver, schema } = backend.open();
      const db = driver.db as unknown as Kysely<unknown>;
      await migrateSchema(db, schema, eventStoreMigrations, '0001_event_log');
      await sql`drop function ${sql.table(`${schema}.append_batch`)}`.execute(db);
      for (const e of WRITTEN) {
        await sql`
          insert into ${sql.table(`${schema}.events`)}
            (position, event_id, stream_id, revision, type, data, metadata, idempotency_key)
          values (${e.position}, ${randomUUID()}, ${e.stream}, ${e.revision}, ${e.type},
                  ${JSON.stringify(e.data)}::json, ${JSON.stringify(metadataOf(e.key))}::json,
                  ${e.key ?? null})`.execute(db);
      }
      await sql`update ${sql.table(`${schema}.head`)} set position = 5 where id = 1`.execute(db);

      expect(await migrateToLatest(db, schema)).toEqual(
        namesAfter(eventStoreMigrations, '0001_event_log'),
      );
      expect(await appendBatchBody(db, schema)).toBe(latestAppendBatchBody(schema));
      await expectLogIntact(driver, schema);
    }, 30_000);
  });

  describe(`checkpoint table migrations on ${backend.name}`, () => {
    const PARKED_EVENT = { position: 8, stream: 'A', type: 'mission.accepted', data: { n: 8 } };

    /** Writes a stalled checkpoint and its parked event as the runner of any release did. */
    async function writeStalled(db: Kysely<unknown>, schema: string): Promise<void> {
      const checkpoints = sql.table(`${schema}.projection_checkpoints`);
      await sql`insert into ${checkpoints} (name, position, status)
                values ('mission_state', 0, 'stopped')`.execute(db);
      await sql`update ${checkpoints} set position = 7, status = 'stalled', error = 'boom'
                 where name = 'mission_state'`.execute(db);
      await sql`insert into ${sql.table(`${schema}.projection_parked`)}
                  (name, position, event, error, attempts)
                values ('mission_state', 8, ${JSON.stringify(PARKED_EVENT)}::json, 'boom', 3)`.execute(
        db,
      );
    }

    async function expectStalledIntact(
      db: Kysely<unknown>,
      schema: string,
      expected: { generation: number; version: number },
    ): Promise<void> {
      expect(await readCheckpoint(db, schema, 'mission_state')).toEqual({
        name: 'mission_state',
        position: 7,
        status: 'stalled',
        error: 'boom',
        ...expected,
      });
      const { rows } = await sql<{ position: string | number; event: unknown; attempts: number }>`
        select position, event, error, attempts from ${sql.table(`${schema}.projection_parked`)}`.execute(
        db,
      );
      expect(rows.map((r) => ({ ...r, position: Number(r.position) }))).toEqual([
        { position: 8, event: PARKED_EVENT, error: 'boom', attempts: 3 },
      ]);
      // Today's runner code works on the upgraded tables: setup keeps the row, the
      // compare-and-set moves it.
      await createCheckpointRow(db, schema, 'mission_state', 1);
      await createCheckpointRow(db, schema, 'other', 1);
      expect(
        await moveCheckpoints(db, schema, [
          {
            name: 'mission_state',
            from: { position: 7, ...expected },
            to: 9,
            status: 'running',
            writes: () => [],
          },
        ]),
      ).toEqual([true]);
      expect(await readCheckpoint(db, schema, 'mission_state')).toMatchObject({
        position: 9,
        status: 'running',
      });
      expect(await readCheckpoint(db, schema, 'other')).toMatchObject({ position: 0, version: 1 });
    }

    const migrated = async (db: Kysely<unknown>, schema: string) => {
      const { rows } = await sql<{ name: string }>`
        select name from ${sql.table(`${schema}.${checkpointMigrations.table}`)} order by name`.execute(
        db,
      );
      return rows.map((r) => r.name);
    };

    for (const at of checkpointMigrations.migrations.slice(0, -1).map((m) => m.name)) {
      it(`a checkpoint and a parked event written at ${at} survive the upgrade`, async () => {
        const { driver, schema } = backend.open();
        const db = driver.db as unknown as Kysely<unknown>;
        expect(await migrateSchema(db, schema, checkpointMigrations, at)).toEqual(
          namesUpTo(checkpointMigrations, at),
        );
        await writeStalled(db, schema);
        expect(await migrateCheckpointTables(db, schema)).toEqual(
          namesAfter(checkpointMigrations, at),
        );
        await expectStalledIntact(db, schema, { generation: 0, version: 0 });
      }, 30_000);
    }

    // Before the migrator, each runner start ran these same statements (`if not exists`) ad hoc,
    // so a schema may hold the tables of any release and no migration table: the migrations
    // adopt it, creating nothing twice and dropping nothing.
    for (const upTo of checkpointMigrations.migrations.map((m) => m.name)) {
      it(`adopts checkpoint tables created without the migrator as of ${upTo}`, async () => {
        const { driver, schema } = backend.open();
        const db = driver.db as unknown as Kysely<unknown>;
        await sql`create schema ${sql.id(schema)}`.execute(db);
        for (const m of checkpointMigrations.migrations.filter((m) => m.name <= upTo)) {
          for (const text of m.statements(quoteIdentifier(schema))) await sql.raw(text).execute(db);
        }
        await writeStalled(db, schema);
        const hasColumns = upTo >= '0002_checkpoint_generation_and_version';
        if (hasColumns) {
          await sql`update ${sql.table(`${schema}.projection_checkpoints`)}
                       set generation = 3, version = 2`.execute(db);
        }

        expect(await migrateCheckpointTables(db, schema)).toEqual(
          checkpointMigrations.migrations.map((m) => m.name),
        );
        expect(await migrated(db, schema)).toEqual(
          checkpointMigrations.migrations.map((m) => m.name),
        );
        expect(await migrateCheckpointTables(db, schema)).toEqual([]);
        await expectStalledIntact(
          db,
          schema,
          hasColumns ? { generation: 3, version: 2 } : { generation: 0, version: 0 },
        );
      }, 30_000);
    }

    it('the event store and the checkpoint tables may share one schema', async () => {
      const { driver, schema } = backend.open();
      const db = driver.db as unknown as Kysely<unknown>;
      const [store, checkpoints] = await Promise.all([
        migrateToLatest(db, schema),
        migrateCheckpointTables(db, schema),
      ]);
      expect(store).toEqual(eventStoreMigrations.migrations.map((m) => m.name));
      expect(checkpoints).toEqual(checkpointMigrations.migrations.map((m) => m.name));
      expect(await migrated(db, schema)).toEqual(checkpoints);
      expect(await migrateToLatest(db, schema)).toEqual([]);
      expect(await migrateCheckpointTables(db, schema)).toEqual([]);
    }, 30_000);
  });
}
