import { sql, type Kysely, type RawBuilder } from 'kysely';
import { afterEach, describe, expect, it } from 'vitest';
import {
  projections,
  replayProjection,
  snapshot,
  type Projection as PureProjection,
} from '../../projections/index.ts';
import { digestOf, readModelSnapshot, scanTable } from '../../src/read-models/compare-tables.ts';
import { readModelTableName, readModelTables } from '../../src/read-models/read-model-tables.ts';
import { sqlReadModel, type SqlReadModel } from '../../src/read-models/sql-read-model.ts';
import type { EventStore, StoredEvent } from '../../src/store/port.ts';
import type { Projection } from '../../src/subscriptions/projection.ts';
import { ProjectionRunner } from '../../src/subscriptions/projection-runner.ts';
import {
  appendAll,
  readModelBackends,
  type ReadModelFixture as Fixture,
} from '../support/read-model-backends.ts';
import { realisticLog } from '../unit/support/projection-given.ts';

const runners: ProjectionRunner<unknown>[] = [];
const backends = readModelBackends('rm', { pollIntervalMs: 50 });
afterEach(async () => {
  for (const runner of runners.splice(0)) await runner.stop();
});

const pures = projections as unknown as PureProjection<Record<string, unknown>>[];

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

/**
 * Delegates to `inner`, but fails the first batch that changes rows, after the adapter wrote: on
 * the transaction path (`apply`), or on the one-statement path (`prepare`), where a last write of
 * the statement fails when it runs.
 */
function failingOnce(
  inner: SqlReadModel,
  path: 'apply' | 'prepare',
): { projection: Projection; failures: () => number; rollbacks: () => number } {
  let failures = 0;
  let rollbacks = 0;
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
    ...(path === 'prepare'
      ? {
          async prepare(db: Kysely<unknown>, events: readonly StoredEvent[], schema: string) {
            const writes = await inner.prepare!(db, events, schema);
            if (!armed) return writes;
            armed = false;
            failures += 1;
            // A checkpoint without a name violates its primary key when the statement runs.
            return (gate: RawBuilder<unknown>) => [
              ...writes(gate),
              sql`insert into ${sql.table(`${schema}.projection_checkpoints`)} (name) values (null)`,
            ];
          },
        }
      : {}),
    committed: () => inner.committed?.(),
    rolledBack: () => {
      rollbacks += 1;
      inner.rolledBack?.();
    },
  };
  return { projection, failures: () => failures, rollbacks: () => rollbacks };
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
      const failing = adapters.map((adapter, i) =>
        failingOnce(adapter, i % 2 === 0 ? 'apply' : 'prepare'),
      );
      for (const { projection } of failing) await start(f, projection, 3).start();
      await appendAll(f.store, log.slice(third, 2 * third));
      head = await f.store.headPosition();
      for (const r of runners)
        expect(await r.waitFor(head, 10_000), JSON.stringify(r.status())).toBe(true);
      const slice = log.slice(third, 2 * third);
      failing.forEach(({ failures, rollbacks }, i) => {
        expect(failures()).toBe(slice.some((e) => pures[i]!.handles(e.type)) ? 1 : 0);
        // The injected failure really failed its batch (on either path), which was rolled back.
        expect(rollbacks()).toBeGreaterThanOrEqual(failures());
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
