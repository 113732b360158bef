import { sql } from 'kysely';
import { describe, expect, it } from 'vitest';
import {
  projections,
  replayProjection,
  rowKey,
  snapshot,
  type ProjectionFold,
} from '../../projections/index.ts';
import { isLedgerError } from '../../src/errors.ts';
import { catchUpProjections } from '../../src/read-models/catch-up.ts';
import { digestOf, readModelSnapshot } from '../../src/read-models/compare-tables.ts';
import {
  readModelTables,
  setTablesLogged,
  type AnyTables,
} from '../../src/read-models/read-model-tables.ts';
import type { EventStore } from '../../src/store/port.ts';
import { readCheckpoints } from '../../src/read-models/checkpoints.ts';
import {
  appendAll,
  readModelBackends,
  type ReadModelFixture as Fixture,
} from '../support/read-model-backends.ts';
import { realisticLog } from '../unit/support/projection-given.ts';

const backends = readModelBackends('cu', { poolMax: 4 });

const pures = projections as unknown as ProjectionFold<AnyTables>[];

/** Counts events per type: handles everything, never fails. */
const typeCounts: ProjectionFold<{ type_counts: { type: string; n: number } }> = {
  name: 'type_counts',
  version: 1,
  tables: { type_counts: { primaryKey: ['type'], description: 'Events per type.' } },
  handles: () => true,
  apply(event, lookup) {
    const n = (lookup('type_counts', event.type)?.n ?? 0) + 1;
    return [{ table: 'type_counts', key: rowKey(event.type), row: { type: event.type, n } }];
  },
};

/** What the pure fold makes of the log up to `until`, as JSON (what `jsonb` holds). */
async function expected(store: EventStore, pure: ProjectionFold<AnyTables>, until: number) {
  const events = (await store.readAll({ limit: 100_000 })).filter((e) => e.position <= until);
  return JSON.parse(JSON.stringify(snapshot(replayProjection(pure, events)))) as Record<
    string,
    unknown[]
  >;
}

async function expectEqualsReplay(f: Fixture, pure: ProjectionFold<AnyTables>, until: number) {
  const want = await expected(f.store, pure, until);
  const got = await readModelSnapshot(f.db, f.schema, pure);
  expect(got).toEqual(want);
  expect(digestOf(got)).toBe(digestOf(want));
}

for (const backend of backends) {
  describe(`catchUpProjections on ${backend.name}`, () => {
    it('builds every projection in one pass, equal to the replay, with writes overlapping the fold', async () => {
      const f = await backend.open();
      await appendAll(f.store, realisticLog().events);
      const head = await f.store.headPosition();
      const progress: [string, number][] = [];
      // Tiny writes and a two-row cache: dozens of sealed layers, nearly every lookup a miss.
      const outcomes = await catchUpProjections({
        store: f.store,
        db: f.db,
        schema: f.schema,
        targets: pures.map((pure) => ({ pure, until: head })),
        flushRows: 3,
        maxCachedRows: 2,
        onProgress: (name, position) => progress.push([name, position]),
      });
      expect(outcomes).toEqual(pures.map(() => ({ status: 'fulfilled', value: head })));
      for (const pure of pures) await expectEqualsReplay(f, pure, head);
      expect(new Set(progress.map(([name]) => name))).toEqual(new Set(pures.map((p) => p.name)));
      expect(progress.length).toBeGreaterThan(pures.length * 3);

      const checkpoints = await readCheckpoints(
        f.db,
        f.schema,
        pures.map((p) => p.name),
      );
      for (const pure of pures) {
        expect(checkpoints.get(pure.name)).toMatchObject({ position: head, status: 'stopped' });
      }
    }, 60_000);

    it('resumes from its checkpoints and stops each projection at its own position', async () => {
      const f = await backend.open();
      const log = realisticLog().events;
      await appendAll(f.store, log);
      const head = await f.store.headPosition();
      const [first, second] = [Math.floor(head / 3), Math.floor((2 * head) / 3)];

      const partial = await catchUpProjections({
        store: f.store,
        db: f.db,
        schema: f.schema,
        targets: [
          { pure: pures[0]!, until: first },
          { pure: pures[1]!, until: second },
        ],
        flushRows: 5,
      });
      expect(partial.map((o) => o.status === 'fulfilled' && o.value)).toEqual([first, second]);
      await expectEqualsReplay(f, pures[0]!, first);
      await expectEqualsReplay(f, pures[1]!, second);

      // Again, to the head: each continues from where it stopped, nothing applied twice.
      const rest = await catchUpProjections({
        store: f.store,
        db: f.db,
        schema: f.schema,
        targets: pures.slice(0, 2).map((pure) => ({ pure, until: head })),
        flushRows: 5,
      });
      expect(rest.map((o) => o.status === 'fulfilled' && o.value)).toEqual([head, head]);
      for (const pure of pures.slice(0, 2)) await expectEqualsReplay(f, pure, head);
    }, 60_000);

    it('stalls only the projection that cannot apply an event, and keeps what came before it', async () => {
      const f = await backend.open();
      const log = realisticLog().events;
      const cut = Math.floor(log.length / 2);
      await appendAll(f.store, log.slice(0, cut));
      const missionStream = log.find((e) => e.stream.startsWith('mission-'))!.stream;
      // Not what the ledger writes: the store takes any data, the projections' schemas do not.
      const appended = await f.store.append(missionStream, [
        { type: 'mission.progress', data: { summary: 42 } },
      ]);
      const bad = { position: appended.positions[0]! };
      await appendAll(f.store, log.slice(cut));
      const head = await f.store.headPosition();
      const missionState = pures.find((p) => p.name === 'mission_state')!;
      const outcomes = await catchUpProjections({
        store: f.store,
        db: f.db,
        schema: f.schema,
        targets: [
          { pure: missionState, until: head },
          { pure: typeCounts as unknown as ProjectionFold<AnyTables>, until: head },
        ],
        flushRows: 4,
      });

      expect(outcomes[1]).toEqual({ status: 'fulfilled', value: head });
      expect(outcomes[0]!.status).toBe('rejected');
      const error = (outcomes[0] as PromiseRejectedResult).reason as unknown;
      expect(isLedgerError(error, 'PROJECTION_STALLED')).toBe(true);
      expect((error as Error).message).toContain(`position ${bad.position}`);
      await expectEqualsReplay(f, typeCounts as unknown as ProjectionFold<AnyTables>, head);
      await expectEqualsReplay(f, missionState, bad.position - 1);
      const checkpoint = (await readCheckpoints(f.db, f.schema, ['mission_state'])).get(
        'mission_state',
      );
      expect(checkpoint).toMatchObject({ position: bad.position - 1, status: 'stalled' });
      expect(checkpoint?.error).toContain(`position ${bad.position}`);

      // A stalled copy is not continued: asking again fails at once, naming the stall.
      const [again] = await catchUpProjections({
        store: f.store,
        db: f.db,
        schema: f.schema,
        targets: [{ pure: missionState, until: head }],
      });
      expect(again!.status).toBe('rejected');
      expect(((again as PromiseRejectedResult).reason as Error).message).toContain(
        `position ${bad.position}`,
      );
    }, 60_000);

    it('writes unlogged tables without secondary indexes; setTablesLogged makes them ordinary', async () => {
      const f = await backend.open();
      await appendAll(f.store, realisticLog().events.slice(0, 20));
      const missionState = pures.find((p) => p.name === 'mission_state')!;
      await catchUpProjections({
        store: f.store,
        db: f.db,
        schema: f.schema,
        targets: [{ pure: missionState, until: await f.store.headPosition() }],
      });
      const table = [...readModelTables(missionState).values()][0]!;
      const persistence = async () => {
        const { rows } = await sql<{ p: string; indexes: number }>`
          select c.relpersistence as p,
                 (select count(*)::int from pg_index i where i.indrelid = c.oid) as indexes
            from pg_class c join pg_namespace n on n.oid = c.relnamespace
           where n.nspname = ${f.schema} and c.relname = ${table}`.execute(f.db);
        return rows[0];
      };
      expect(await persistence()).toEqual({ p: 'u', indexes: 1 }); // the primary key only
      await setTablesLogged(f.db, f.schema, missionState);
      expect((await persistence())?.p).toBe('p');
      await setTablesLogged(f.db, f.schema, missionState); // a no-op now
    }, 30_000);
  });
}
