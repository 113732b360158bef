import { sql } from 'kysely';
import { afterEach, describe, expect, it } from 'vitest';
import {
  projections,
  replayProjection,
  snapshot,
  type ProjectionFold,
} from '../../projections/index.ts';
import { digestOf, readModelSnapshot, scanTable } from '../../src/read-models/compare-tables.ts';
import { ProjectionEngine } from '../../src/read-models/projection-engine.ts';
import { readModelTableName, readModelTables } from '../../src/read-models/read-model-tables.ts';
import type { EventStore } from '../../src/store/port.ts';
import {
  appendAll,
  readModelBackends,
  type ReadModelFixture as Fixture,
} from '../support/read-model-backends.ts';
import { realisticLog } from '../unit/support/projection-given.ts';

const engines: ProjectionEngine[] = [];
const backends = readModelBackends('rm', { pollIntervalMs: 50 });
afterEach(async () => {
  for (const engine of engines.splice(0)) await engine.stop();
});

const pures = projections as unknown as ProjectionFold<Record<string, unknown>>[];

function start(f: Fixture, batchSize = 500, maxCachedRows?: number): ProjectionEngine {
  const engine = new ProjectionEngine({
    store: f.store,
    db: f.db,
    schema: f.schema,
    folds: pures,
    batchSize,
    retryDelayMs: 10,
    lockPollMs: 100,
    ...(maxCachedRows === undefined ? {} : { maxCachedRows }),
  });
  engines.push(engine);
  return engine;
}

/** What the pure fold makes of the whole log, as JSON (what `jsonb` can hold). */
async function expectedSnapshot(store: EventStore, pure: ProjectionFold<Record<string, unknown>>) {
  const events = await store.readAll({ limit: 100_000 });
  return JSON.parse(JSON.stringify(snapshot(replayProjection(pure, events)))) as Record<
    string,
    unknown[]
  >;
}

/**
 * The tables equal the replay of the log (deep and by digest), and every row the engine has
 * cached (present or absent) is what the table holds.
 */
async function expectMatchesReplay(f: Fixture, engine: ProjectionEngine): Promise<void> {
  let tables = 0;
  for (const pure of pures) {
    const expected = await expectedSnapshot(f.store, pure);
    const actual = await readModelSnapshot(f.db, f.schema, pure);
    tables += Object.keys(expected).length;
    expect(actual).toEqual(expected);
    expect(digestOf(actual)).toBe(digestOf(expected));
    const names = readModelTables(pure);
    for (const [table, rows] of engine.cachedRows(pure.name)) {
      const stored = new Map<string, unknown>();
      for await (const { key, row } of scanTable(f.db, f.schema, names.get(table)!)) {
        stored.set(key, row);
      }
      for (const [key, row] of rows) expect(stored.get(key)).toEqual(row);
    }
  }
  expect(tables).toBeGreaterThan(3);
}

async function caughtUp(f: Fixture, engine: ProjectionEngine): Promise<void> {
  const head = await f.store.headPosition();
  for (const pure of pures) {
    expect(await engine.waitFor(pure.name, head, 10_000), JSON.stringify(engine.status())).toBe(
      true,
    );
  }
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
  describe(`ProjectionEngine with the ledger's projections on ${backend.name}`, () => {
    it('matches the in-memory replay, survives failed writes, and resumes after a restart', async () => {
      const f = await backend.open();
      const log = realisticLog().events;
      const third = Math.ceil(log.length / 3);

      // 1. Catch up on the first third: one batch, keys changed several times in it.
      await appendAll(f.store, log.slice(0, third));
      let engine = start(f);
      await engine.start();
      await caughtUp(f, engine);
      await expectMatchesReplay(f, engine);
      const { rows } = await sql<{ name: string }>`
        select table_name as name from information_schema.tables
         where table_schema = ${f.schema} and table_name like '%\\_\\_%' order by 1`.execute(f.db);
      expect(rows.map((r) => r.name)).toEqual(
        pures.flatMap((pure) => [...readModelTables(pure).values()]).sort(),
      );

      // 2. Writes that fail in the database after some rows were written (a trigger on the last
      // table of the statement fails twice): the batch is rolled back whole and retried, nothing
      // doubled or lost in any projection.
      await engine.stop();
      const target = sql.id(
        f.schema,
        readModelTableName('mission_health', 'mission_health_outcomes'),
      );
      const faults = sql.id(f.schema, 'faults');
      await sql`create sequence ${faults}`.execute(f.db);
      await sql`create function ${sql.id(f.schema, 'fail_twice')}() returns trigger language plpgsql as $$
        begin
          if nextval(${sql.lit(`${f.schema}.faults`)}) <= 2 then raise exception 'injected failure'; end if;
          return new;
        end $$`.execute(f.db);
      await sql`create trigger fail_twice before insert or update on ${target}
                for each row execute function ${sql.id(f.schema, 'fail_twice')}()`.execute(f.db);
      engine = start(f, 3);
      await engine.start();
      await appendAll(f.store, log.slice(third, 2 * third));
      await caughtUp(f, engine);
      const { rows: used } = await sql<{
        n: string;
      }>`select last_value::text as n from ${faults}`.execute(f.db);
      expect(Number(used[0]!.n)).toBeGreaterThan(2); // both failures happened, then writes went on
      for (const s of engine.status()) expect(s).toMatchObject({ status: 'running', error: null });
      await expectMatchesReplay(f, engine);
      expect(engine.cachedRows('mission_state').size).toBeGreaterThan(0);

      // 3. Stop; a new engine continues from the checkpoints, with a cache of two rows: nearly
      // every lookup is a miss fetched in the middle of the fold.
      await engine.stop();
      const before = await Promise.all(
        pures.map((pure) => readModelSnapshot(f.db, f.schema, pure)),
      );
      engine = start(f, 7, 2);
      await engine.start();
      await appendAll(f.store, log.slice(2 * third));
      await caughtUp(f, engine);
      await expectMatchesReplay(f, engine);
      const after = await Promise.all(pures.map((pure) => readModelSnapshot(f.db, f.schema, pure)));
      expect(after.map((s) => digestOf(s))).not.toEqual(before.map((s) => digestOf(s)));
    }, 60_000);
  });
}
