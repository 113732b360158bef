import { randomUUID } from 'node:crypto';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { LedgerError, isLedgerError, type ErrorCode } from '../../src/errors.ts';
import { openStore, parseStoreUrl } from '../../src/store/open-store.ts';
import type { AppendResult, EventStore, NewEvent, StoredEvent } from '../../src/store/port.ts';
import { migrateToLatest } from '../../src/store/sql/migrations.ts';
import { postgresDriver } from '../../src/store/sql/postgres-driver.ts';
import { adminQuery, dropSchemas, freshSchemaName, storeUrl } from '../support/postgres.ts';

const opened: EventStore[] = [];

async function open(url: string): Promise<EventStore> {
  const store = await openStore(url, { pollIntervalMs: 200 });
  opened.push(store);
  return store;
}

async function closeAll(): Promise<void> {
  await Promise.all(opened.splice(0).map((s) => s.close()));
}

function event(type: string, data: Record<string, unknown> = {}, key?: string): NewEvent {
  return key === undefined ? { type, data } : { type, data, metadata: { idempotency_key: key } };
}

async function readEverything(store: EventStore): Promise<StoredEvent[]> {
  const out: StoredEvent[] = [];
  for (;;) {
    const page = await store.readAll({ after: out.at(-1)?.position ?? 0, limit: 100 });
    if (page.length === 0) return out;
    out.push(...page);
  }
}

async function failure(promise: Promise<unknown>): Promise<unknown> {
  try {
    await promise;
  } catch (error) {
    return error;
  }
  throw new Error('expected a rejection, but the call succeeded');
}

async function expectCode(promise: Promise<unknown>, code: ErrorCode): Promise<LedgerError> {
  const error = await failure(promise);
  expect(error).toBeInstanceOf(LedgerError);
  expect((error as LedgerError).code).toBe(code);
  return error as LedgerError;
}

beforeAll(async () => {
  await adminQuery('select 1'); // fails loudly, with instructions, when PostgreSQL is down
});
afterEach(closeAll);
afterAll(dropSchemas);

describe('SQL store on PostgreSQL', () => {
  it('opens twice at the same moment on a fresh schema, and a third open migrates nothing', async () => {
    const schema = freshSchemaName();
    const url = storeUrl(schema);
    const [a, b] = await Promise.all([open(url), open(url)]);

    const tables = await adminQuery(
      `select table_name from information_schema.tables where table_schema = $1 order by 1`,
      [schema],
    );
    expect(tables.rows.map((r: { table_name: string }) => r.table_name)).toEqual([
      'events',
      'head',
      'kysely_migration',
      'kysely_migration_lock',
    ]);
    const head = await adminQuery(`select id, position::int from "${schema}".head`);
    expect(head.rows).toEqual([{ id: 1, position: 0 }]);
    const migrations = await adminQuery(`select name from "${schema}".kysely_migration`);
    expect(migrations.rows).toEqual([
      { name: '0001_event_log' },
      { name: '0002_append_batch_insert_at_once' },
      { name: '0003_append_batch_decides_in_full' },
    ]);

    const fromA = await a.append('from-a', [event('a.1'), event('a.2')]);
    const fromB = await b.append('from-b', [event('b.1')]);
    expect([...fromA.positions, ...fromB.positions].sort()).toEqual([1, 2, 3]);
    for (const store of [a, b]) {
      expect((await store.readStream('from-a')).map((e) => e.type)).toEqual(['a.1', 'a.2']);
      expect((await store.readStream('from-b')).map((e) => e.type)).toEqual(['b.1']);
      expect((await readEverything(store)).map((e) => e.position)).toEqual([1, 2, 3]);
      expect(await store.headPosition()).toBe(3);
    }

    // A third open: nothing to migrate, nothing lost.
    const c = await open(url);
    expect(await c.headPosition()).toBe(3);
    expect((await readEverything(c)).map((e) => e.type)).toEqual(['a.1', 'a.2', 'b.1']);
    expect((await adminQuery(`select name from "${schema}".kysely_migration`)).rows).toHaveLength(
      3,
    );
    const location = parseStoreUrl(url);
    if (location.kind !== 'postgres') throw new Error('expected a postgres URL');
    const driver = postgresDriver(location.connectionString);
    try {
      expect(await migrateToLatest(driver.db, schema)).toEqual([]);
    } finally {
      await driver.close();
    }
  });

  it('upgrades a log whose append_batch predates 0003, keeping its events', async () => {
    const schema = freshSchemaName();
    const url = storeUrl(schema);
    const first = await open(url);
    await first.append('old', [event('a')], { expectedRevision: 'no_stream' });
    await closeAll();
    const body = async () => {
      const { rows } = await adminQuery(
        `select prosrc from pg_proc p join pg_namespace n on n.oid = p.pronamespace
          where n.nspname = $1 and p.proname = 'append_batch'`,
        [schema],
      );
      return (rows[0] as { prosrc: string } | undefined)?.prosrc;
    };
    const current = await body();
    // 0003 took the insert-at-once path (and its LF001 signal) out of the function.
    expect(current).not.toContain('LF001');
    // As the log was after migration 0002: another append_batch body, 0003 not applied.
    await adminQuery(
      `delete from "${schema}".kysely_migration where name = '0003_append_batch_decides_in_full'`,
    );
    await adminQuery(
      `update pg_proc set prosrc = replace(prosrc, 'Parsed before the lock', 'An older body')
        where proname = 'append_batch' and pronamespace = $1::regnamespace`,
      [schema],
    );
    expect(await body()).not.toBe(current);

    const store = await open(url);
    expect(await body()).toBe(current);
    expect((await store.readStream('old')).map((e) => e.type)).toEqual(['a']);
    const next = await store.append('old', [event('b')], { expectedRevision: 0 });
    expect(next.positions).toEqual([2]);
  });

  it('reports an unreachable server as STORE_UNAVAILABLE, promptly', async () => {
    const started = Date.now();
    const error = await expectCode(
      openStore('postgres://postgres@127.0.0.1:1/test'),
      'STORE_UNAVAILABLE',
    );
    expect(Date.now() - started).toBeLessThan(5000);
    expect(error.name).toBe('LedgerError');
    expect(error.cause).toBeDefined();
  });

  it('keeps positions dense across conflicts and idempotent retries', async () => {
    const url = storeUrl(freshSchemaName());
    const store = await open(url);
    const peer = await open(url);
    let appended = 0;
    const ok = (result: AppendResult) => {
      expect(result.duplicate).toBe(false);
      appended += result.positions.length;
      return result;
    };

    // Sequentially.
    ok(await store.append('s1', [event('a'), event('b')], { expectedRevision: 'no_stream' }));
    await expectCode(
      store.append('s1', [event('c')], { expectedRevision: 'no_stream' }),
      'EXPECTED_REVISION_CONFLICT',
    );
    const keyed = ok(
      await store.append('s1', [event('c', { n: 1 }, 'k1')], { expectedRevision: 1 }),
    );
    const retry = await peer.append('s1', [event('c', { n: 1 }, 'k1')], { expectedRevision: 1 });
    expect(retry).toMatchObject({ duplicate: true, positions: keyed.positions, revisions: [2] });
    await expectCode(
      store.append('s2', [event('x')], { expectedRevision: 5 }),
      'EXPECTED_REVISION_CONFLICT',
    );
    const pair = ok(await store.append('s2', [event('x', {}, 'k2'), event('y', {}, 'k3')]));
    // Every event of this call holds a key the stream has, with the same content: a duplicate.
    expect(await store.append('s2', [event('y', {}, 'k3')])).toMatchObject({
      duplicate: true,
      positions: [pair.positions[1]],
    });
    // A held key beside a new one: a partial retry.
    await expectCode(
      store.append('s2', [event('x', {}, 'k2'), event('z', {}, 'k4')]),
      'IDEMPOTENCY_KEY_REUSED',
    );
    await expectCode(
      store.append('s2', [event('x', { changed: true }, 'k2'), event('y', {}, 'k3')]),
      'IDEMPOTENCY_KEY_REUSED',
    );
    ok(await peer.append('s1', [event('d')], { expectedRevision: 2 }));

    // Concurrently, from two instances, so that outcomes mix inside group-commit batches.
    for (let round = 0; round < 5; round += 1) {
      const race = `race-${round}`;
      const idem = `idem-${round}`;
      const calls: Promise<AppendResult>[] = [];
      for (const s of [store, peer, store, peer]) {
        calls.push(s.append(race, [event('r1'), event('r2')], { expectedRevision: 'no_stream' }));
        calls.push(s.append(idem, [event('i', { round }, `key-${round}`)]));
        calls.push(s.append(`free-${round}`, [event('f')]));
        calls.push(s.append('s1', [event('late')], { expectedRevision: 0 })); // always stale
      }
      const results = await Promise.allSettled(calls);
      const fulfilled = results.filter((r) => r.status === 'fulfilled').map((r) => r.value);
      const rejected = results
        .filter((r) => r.status === 'rejected')
        .map((r) => r.reason as unknown);
      for (const error of rejected) {
        expect(isLedgerError(error, 'EXPECTED_REVISION_CONFLICT')).toBe(true);
      }
      // One winner of the race, four stale appends refused.
      expect(rejected).toHaveLength(3 + 4);
      const idemResults = fulfilled.filter((r) => r.stream === idem);
      expect(idemResults).toHaveLength(4);
      expect(idemResults.filter((r) => !r.duplicate)).toHaveLength(1);
      expect(new Set(idemResults.map((r) => r.positions[0])).size).toBe(1);
      for (const result of fulfilled) if (!result.duplicate) ok(result);
    }

    const all = await readEverything(store);
    const head = await store.headPosition();
    expect(head).toBe(appended);
    expect(all.map((e) => e.position)).toEqual(Array.from({ length: head }, (_, i) => i + 1));
    expect(await peer.headPosition()).toBe(head);
    expect((await store.readStream('s1')).map((e) => e.type)).toEqual(['a', 'b', 'c', 'd']);
  });

  it('decides each append of a batch with stated revisions in one call, colliding or not', async () => {
    const store = await open(storeUrl(freshSchemaName()));
    await store.append('at-1', [event('a'), event('b')]);
    await store.append('keyed', [event('k', { n: 1 }, 'key-1')], { expectedRevision: 'no_stream' });
    const head = await store.headPosition();

    // Every append names its revision, so the batch goes out as one statement (append-statement.ts).
    const clean = await Promise.all(
      [0, 1, 2].map((i) =>
        store.append(`clean-${i}`, [event('x'), event('y')], { expectedRevision: 'no_stream' }),
      ),
    );
    expect(clean.map((r) => r.positions)).toEqual([
      [head + 1, head + 2],
      [head + 3, head + 4],
      [head + 5, head + 6],
    ]);
    expect(clean.map((r) => [r.revisions, r.nextExpectedRevision, r.duplicate])).toEqual(
      Array(3).fill([[0, 1], 1, false]),
    );

    // Numbered revisions too: each stream's probe finds the revision it expects.
    const numbered = await Promise.all([
      store.append('at-1', [event('c')], { expectedRevision: 1 }),
      store.append('clean-0', [event('z')], { expectedRevision: 1 }),
      store.append('clean-1', [event('z'), event('zz')], { expectedRevision: 1 }),
    ]);
    expect(numbered.map((r) => [r.positions, r.revisions, r.nextExpectedRevision])).toEqual([
      [[head + 7], [2], 2],
      [[head + 8], [2], 2],
      [[head + 9, head + 10], [2, 3], 3],
    ]);

    // One batch (submitted in one turn, distinct streams) in which the one-statement append
    // collides: a stale revision, a stream short of its revision, a retry and a reused key. The
    // full decision must still answer each on its own, and the fresh appends must land densely.
    const before = await store.headPosition();
    const outcomes = await Promise.allSettled([
      store.append('fresh-a', [event('f')], { expectedRevision: 'no_stream' }),
      store.append('at-1', [event('late')], { expectedRevision: 1 }),
      store.append('short', [event('s')], { expectedRevision: 3 }),
      store.append('keyed', [event('k', { n: 1 }, 'key-1')], { expectedRevision: 'no_stream' }),
      store.append('fresh-b', [event('f'), event('g')], { expectedRevision: 'no_stream' }),
    ]);
    const [freshA, stale, short, retry, freshB] = outcomes;
    expect(freshA).toMatchObject({ status: 'fulfilled', value: { positions: [before + 1] } });
    for (const refused of [stale, short]) {
      expect(refused?.status).toBe('rejected');
      const reason = (refused as PromiseRejectedResult).reason as unknown;
      expect(isLedgerError(reason, 'EXPECTED_REVISION_CONFLICT')).toBe(true);
    }
    expect(retry).toMatchObject({
      status: 'fulfilled',
      value: { duplicate: true, positions: [head], revisions: [0] },
    });
    expect(freshB).toMatchObject({
      status: 'fulfilled',
      value: { positions: [before + 2, before + 3], revisions: [0, 1], nextExpectedRevision: 1 },
    });
    expect(await store.headPosition()).toBe(before + 3);
    const all = await readEverything(store);
    expect(all.map((e) => e.position)).toEqual(Array.from({ length: before + 3 }, (_, i) => i + 1));
    await expectCode(
      store.append('keyed', [event('k', { n: 2 }, 'key-1')], { expectedRevision: 0 }),
      'IDEMPOTENCY_KEY_REUSED',
    );
  });

  it('fails a subscription with LOG_INTEGRITY_VIOLATION at a hole made behind its back', async () => {
    const schema = freshSchemaName();
    const store = await open(storeUrl(schema));
    await store.append(
      's',
      [1, 2, 3, 4, 5].map((n) => event('e', { n })),
    );
    await adminQuery(`delete from "${schema}".events where position = 3`);

    const controller = new AbortController();
    // Should the hole go unnoticed, the subscription would wait for events: end it instead.
    const timer = setTimeout(() => controller.abort(), 5000);
    const delivered: number[] = [];
    let error: unknown;
    try {
      for await (const e of store.subscribe({ after: 0, signal: controller.signal })) {
        delivered.push(e.position);
      }
    } catch (caught) {
      error = caught;
    } finally {
      clearTimeout(timer);
    }
    expect(delivered).toEqual([1, 2]);
    expect(error).toBeInstanceOf(LedgerError);
    expect((error as LedgerError).code).toBe('LOG_INTEGRITY_VIOLATION');
    expect((error as LedgerError).details).toEqual({ expected: 3, found: 4 });
  });

  // No later event reveals a hole at the tail: the head, read in the same snapshot, does.
  it('fails a subscription at a hole in the last position instead of spinning', async () => {
    const schema = freshSchemaName();
    const store = await open(storeUrl(schema));
    await store.append(
      's',
      [1, 2, 3].map((n) => event('e', { n })),
    );
    await adminQuery(`delete from "${schema}".events where position = 3`);

    const controller = new AbortController();
    const timer = setTimeout(() => controller.abort(), 1500);
    let caughtUp = 0;
    let error: unknown;
    try {
      const subscription = store.subscribe({
        signal: controller.signal,
        onCaughtUp: () => (caughtUp += 1),
      });
      for await (const _ of subscription) {
        // drain
      }
    } catch (caught) {
      error = caught;
    } finally {
      clearTimeout(timer);
    }
    expect(caughtUp).toBeLessThan(20); // a poll every 200 ms, not a busy loop
    expect(isLedgerError(error, 'LOG_INTEGRITY_VIOLATION')).toBe(true);
  });

  it('stores metadata as appended with recorded_at last, exactly as readStream returns it', async () => {
    const schema = freshSchemaName();
    const store = await open(storeUrl(schema));
    // Key order deliberately not alphabetical, with non-ASCII text.
    const metadata = {
      trace_id: 'trace-ü-1',
      actor: 'operator:zoë',
      idempotency_key: 'k-🔑',
      correlation_id: 'corr-1',
    };
    await store.append('meta', [
      { type: 'with', data: { a: 1 }, metadata },
      { type: 'without', data: {} },
    ]);
    const rows = await adminQuery(
      `select metadata::text as text from "${schema}".events where stream_id = $1 order by revision`,
      ['meta'],
    );
    const texts = rows.rows.map((r: { text: string }) => r.text);
    const read = await store.readStream('meta');
    expect(texts).toHaveLength(2);
    expect(read).toHaveLength(2);

    const [withText, withoutText] = texts as [string, string];
    const recordedAt = read[0]!.metadata.recorded_at;
    expect(Date.parse(recordedAt)).not.toBeNaN();
    expect(withText).toBe(
      `${JSON.stringify(metadata).slice(0, -1)},"recorded_at":${JSON.stringify(recordedAt)}}`,
    );
    expect(withText.endsWith(`"recorded_at":${JSON.stringify(recordedAt)}}`)).toBe(true);
    expect(withoutText).toBe(`{"recorded_at":${JSON.stringify(read[1]!.metadata.recorded_at)}}`);
    expect(read.map((e) => JSON.stringify(e.metadata))).toEqual(texts);
    expect(Object.keys(read[0]!.metadata)).toEqual([...Object.keys(metadata), 'recorded_at']);
  });
});

describe('SQL store on PGlite in a directory', () => {
  let dir = '';
  const lockFile = () => join(dir, 'ledger.lock');
  const url = () => `pglite:${dir}`;

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'ledger-pglite-'));
  });
  afterAll(async () => {
    await closeAll();
    if (dir !== '') await rm(dir, { recursive: true, force: true });
  });

  it('keeps events and the head position across close and reopen', async () => {
    const first = await open(url());
    const appended = await first.append('m-1', [event('a', { n: 1 }), event('b', { s: 'ü' }, 'k')]);
    await first.append('m-2', [event('c')]);
    const before = await readEverything(first);
    expect(before.map((e) => e.position)).toEqual([1, 2, 3]);
    await first.close();
    // Released: the lock file stays (the lock lives on it) and names nobody.
    expect(await readFile(lockFile(), 'utf8')).toBe('');

    const second = await open(url());
    expect(await second.headPosition()).toBe(3);
    expect(await readEverything(second)).toEqual(before);
    const retry = await second.append('m-1', [event('b', { s: 'ü' }, 'k')]);
    expect(retry).toMatchObject({ duplicate: true, positions: [appended.positions[1]] });
    expect((await second.append('m-1', [event('d')], { expectedRevision: 1 })).positions).toEqual([
      4,
    ]);
  });

  it('refuses a second open in this process; a lock file naming a non-holder does not block', async () => {
    const store = await open(url());
    const again = await expectCode(openStore(url()), 'CONFIGURATION_INVALID');
    expect(again.message).toContain('this process');
    // The refused open left the first one working and its lock in place.
    await store.append('still-open', [event('x')]);
    expect((await store.readStream('still-open')).map((e) => e.type)).toEqual(['x']);
    expect((await readFile(lockFile(), 'utf8')).trim()).toBe(String(process.pid));
    await closeAll();

    // A lock file naming a live process that holds no lock (a reused pid) does not block.
    await writeFile(lockFile(), String(process.ppid));
    await open(url());
    expect((await readFile(lockFile(), 'utf8')).trim()).toBe(String(process.pid));
    await closeAll();
  });

  it('opens a directory whose lock file names a process that no longer runs', async () => {
    await writeFile(lockFile(), '2147483646');
    const store = await open(url());
    expect((await readFile(lockFile(), 'utf8')).trim()).toBe(String(process.pid));
    const before = await store.headPosition();
    const marker = randomUUID();
    await store.append('after-stale', [event('x', { marker })]);
    expect((await store.readStream('after-stale'))[0]!.data).toEqual({ marker });
    expect(await store.headPosition()).toBe(before + 1);
  });
});
