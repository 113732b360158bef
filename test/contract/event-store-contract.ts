import { randomUUID } from 'node:crypto';
import { afterEach, describe, expect, it } from 'vitest';
import { isLedgerError, type ErrorCode } from '../../src/errors.ts';
import type { EventStore, NewEvent, StoredEvent } from '../../src/store/port.ts';

/** Options a test may ask of the store under test. */
export interface ContractStoreOptions {
  maxEventBytes?: number;
  /** Awaited inside each append transaction before it commits (adapters that support it). */
  beforeCommit?: () => Promise<void>;
}

/**
 * How the suite gets stores. `open` gives a store on a log of its own or a shared one: the suite
 * namespaces its streams and only counts its own events, so it also runs against a long-lived
 * EventStoreDB. `openPeer` opens a second instance on the same log, as another process would.
 */
export interface ContractHarness {
  open(options?: ContractStoreOptions): Promise<EventStore>;
  openPeer?(store: EventStore, options?: ContractStoreOptions): Promise<EventStore>;
}

async function expectCode(
  promise: Promise<unknown>,
  code: ErrorCode,
): Promise<Record<string, unknown>> {
  try {
    await promise;
  } catch (error) {
    if (isLedgerError(error)) {
      expect(error.code).toBe(code);
      return error.details;
    }
    throw error;
  }
  throw new Error(`expected ${code}, but the call succeeded`);
}

function event(type: string, data: Record<string, unknown> = {}, key?: string): NewEvent {
  return key === undefined ? { type, data } : { type, data, metadata: { idempotency_key: key } };
}

const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

/** Reads the whole global log after `after`, keeping only streams under `prefix`. */
async function readOwn(store: EventStore, prefix: string, after = 0): Promise<StoredEvent[]> {
  const out: StoredEvent[] = [];
  for (;;) {
    const page = await store.readAll({ after, limit: 1000 });
    if (page.length === 0) return out;
    for (const e of page) if (e.stream.startsWith(prefix)) out.push(e);
    after = page[page.length - 1]!.position;
  }
}

/** Tails the log from `after` until `count` of our events arrived, in a background task. */
function tail(store: EventStore, prefix: string, after: number, count: number) {
  const controller = new AbortController();
  const seen: StoredEvent[] = [];
  const all: StoredEvent[] = [];
  const done = (async () => {
    for await (const e of store.subscribe({ after, signal: controller.signal, batchSize: 64 })) {
      all.push(e);
      if (e.stream.startsWith(prefix)) seen.push(e);
      if (seen.length >= count) break;
    }
  })();
  return { seen, all, done, stop: () => controller.abort() };
}

/** The one EventStore contract. Every adapter runs it. */
export function testEventStore(name: string, harness: ContractHarness): void {
  describe(`EventStore contract: ${name}`, () => {
    const opened: EventStore[] = [];
    let ns = '';
    const open = async (options?: ContractStoreOptions) => {
      const store = await harness.open(options);
      opened.push(store);
      ns = `t${randomUUID().slice(0, 8)}-`;
      return store;
    };
    const peer = async (store: EventStore, options?: ContractStoreOptions) => {
      const other = harness.openPeer === undefined ? store : await harness.openPeer(store, options);
      if (other !== store) opened.push(other);
      return other;
    };
    afterEach(async () => {
      await Promise.all(opened.splice(0).map((s) => s.close()));
    });

    it('appends to a stream and reads it back in revision order', async () => {
      const store = await open();
      const s = `${ns}mission-1`;
      const first = await store.append(s, [
        event('mission.dispatched', { n: 1 }),
        event('mission.accepted', { n: 2 }),
      ]);
      expect(first.revisions).toEqual([0, 1]);
      expect(first.nextExpectedRevision).toBe(1);
      expect(first.duplicate).toBe(false);
      expect(first.positions[1]!).toBeGreaterThan(first.positions[0]!);
      const second = await store.append(s, [event('mission.progress', { n: 3 })], {
        expectedRevision: 1,
      });
      expect(second.revisions).toEqual([2]);
      expect(second.positions[0]!).toBeGreaterThan(first.positions[1]!);

      const read = await store.readStream(s);
      expect(read.map((e) => [e.type, e.revision, e.data.n])).toEqual([
        ['mission.dispatched', 0, 1],
        ['mission.accepted', 1, 2],
        ['mission.progress', 2, 3],
      ]);
      expect(read.map((e) => e.position)).toEqual([...first.positions, ...second.positions]);
      for (const e of read) {
        expect(e.stream).toBe(s);
        expect(e.id).toMatch(/^[0-9a-f-]{36}$/);
        expect(Date.parse(e.metadata.recorded_at)).not.toBeNaN();
      }
      expect(await store.readStream(s, { fromRevision: 1, limit: 1 })).toMatchObject([
        { revision: 1 },
      ]);
      expect(await store.readStream(`${ns}absent`)).toEqual([]);
    });

    it('keeps metadata as appended and stamps recorded_at', async () => {
      const store = await open();
      const metadata = {
        trace_id: 'trace-1',
        idempotency_key: 'k-1',
        causation_id: 'c-1',
        correlation_id: 'r-1',
        actor: 'operator:alice',
      };
      const before = Date.now();
      await store.append(`${ns}m`, [{ type: 'x', data: {}, metadata }]);
      const [stored] = await store.readStream(`${ns}m`);
      expect(stored!.metadata).toMatchObject(metadata);
      expect(Date.parse(stored!.metadata.recorded_at)).toBeGreaterThanOrEqual(before - 1000);
    });

    it('checks every kind of expected revision and appends nothing on a conflict', async () => {
      const store = await open();
      const s = `${ns}m`;
      await expectCode(
        store.append(s, [event('a')], { expectedRevision: 'stream_exists' }),
        'EXPECTED_REVISION_CONFLICT',
      );
      await expectCode(
        store.append(s, [event('a')], { expectedRevision: 0 }),
        'EXPECTED_REVISION_CONFLICT',
      );
      await store.append(s, [event('a')], { expectedRevision: 'no_stream' });
      const details = await expectCode(
        store.append(s, [event('b'), event('c')], { expectedRevision: 'no_stream' }),
        'EXPECTED_REVISION_CONFLICT',
      );
      expect(details).toMatchObject({ stream: s, expected: 'no_stream', actual: 0 });
      await expectCode(
        store.append(s, [event('b')], { expectedRevision: 5 }),
        'EXPECTED_REVISION_CONFLICT',
      );
      await store.append(s, [event('b')], { expectedRevision: 'stream_exists' });
      await store.append(s, [event('c')], { expectedRevision: 1 });
      await store.append(s, [event('d')], { expectedRevision: 'any' });
      expect((await store.readStream(s)).map((e) => e.type)).toEqual(['a', 'b', 'c', 'd']);
    });

    it('lets exactly one of two concurrent appends at one revision win, across instances', async () => {
      const store = await open();
      const other = await peer(store);
      for (let round = 0; round < 10; round += 1) {
        const s = `${ns}race-${round}`;
        await store.append(s, [event('start')]);
        const results = await Promise.allSettled([
          store.append(s, [event('left')], { expectedRevision: 0 }),
          other.append(s, [event('right')], { expectedRevision: 0 }),
        ]);
        const won = results.filter((r) => r.status === 'fulfilled');
        const lost = results.filter((r) => r.status === 'rejected');
        expect(won).toHaveLength(1);
        expect(lost).toHaveLength(1);
        expect(
          isLedgerError((lost[0] as PromiseRejectedResult).reason, 'EXPECTED_REVISION_CONFLICT'),
        ).toBe(true);
        expect(await store.readStream(s)).toHaveLength(2);
      }
    });

    it('returns the original positions for a retried idempotent append and appends nothing', async () => {
      const store = await open();
      const s = `${ns}m`;
      const original = await store.append(
        s,
        [event('mission.accepted', { a: 1, b: 'x' }, 'cb-1')],
        {
          expectedRevision: 'no_stream',
        },
      );
      await store.append(s, [event('mission.progress', {}, 'cb-2')]);
      const head = await store.headPosition();
      // A retry after success carries a stale expected revision: the key wins over the revision.
      const retry = await store.append(s, [event('mission.accepted', { b: 'x', a: 1 }, 'cb-1')], {
        expectedRevision: 'no_stream',
      });
      expect(retry).toMatchObject({
        duplicate: true,
        revisions: original.revisions,
        positions: original.positions,
      });
      expect(retry.nextExpectedRevision).toBe(1);
      expect(await store.headPosition()).toBe(head);
      expect(await store.readStream(s)).toHaveLength(2);
      // The same key in another stream is another fact.
      const elsewhere = await store.append(`${ns}other`, [
        event('mission.accepted', { a: 1, b: 'x' }, 'cb-1'),
      ]);
      expect(elsewhere.duplicate).toBe(false);
    });

    it('refuses an idempotency key reused for different content or a partial retry', async () => {
      const store = await open();
      const s = `${ns}m`;
      await store.append(s, [event('a', { v: 1 }, 'k1'), event('b', { v: 2 }, 'k2')]);
      await expectCode(store.append(s, [event('a', { v: 9 }, 'k1')]), 'IDEMPOTENCY_KEY_REUSED');
      await expectCode(store.append(s, [event('other', { v: 1 }, 'k1')]), 'IDEMPOTENCY_KEY_REUSED');
      await expectCode(
        store.append(s, [event('a', { v: 1 }, 'k1'), event('c', {}, 'k3')]),
        'IDEMPOTENCY_KEY_REUSED',
      );
      await expectCode(
        store.append(s, [event('a', { v: 1 }, 'k1'), event('c', {})]),
        'IDEMPOTENCY_KEY_REUSED',
      );
      expect(await store.readStream(s)).toHaveLength(2);
      const whole = await store.append(s, [event('a', { v: 1 }, 'k1'), event('b', { v: 2 }, 'k2')]);
      expect(whole).toMatchObject({ duplicate: true, revisions: [0, 1] });
    });

    it('appends a callback retried concurrently exactly once, across instances', async () => {
      const store = await open();
      const other = await peer(store);
      const s = `${ns}m`;
      await store.append(s, [event('mission.dispatched')]);
      const attempts = Array.from({ length: 12 }, (_, i) =>
        (i % 2 === 0 ? store : other).append(s, [
          event('mission.accepted', { at: 'x' }, 'callback-7'),
        ]),
      );
      const results = await Promise.all(attempts);
      expect(results.filter((r) => !r.duplicate)).toHaveLength(1);
      expect(new Set(results.map((r) => r.positions[0])).size).toBe(1);
      expect(await store.readStream(s)).toHaveLength(2);
    });

    it('rejects malformed appends without appending', async () => {
      const store = await open();
      const s = `${ns}m`;
      await expectCode(store.append(s, []), 'INVALID_ARGUMENT');
      await expectCode(store.append('', [event('a')]), 'INVALID_ARGUMENT');
      await expectCode(store.append('$system', [event('a')]), 'INVALID_ARGUMENT');
      await expectCode(store.append(s, [event('')]), 'INVALID_ARGUMENT');
      await expectCode(
        store.append(s, [event('a', {}, 'k'), event('b', {}, 'k')]),
        'INVALID_ARGUMENT',
      );
      await expectCode(
        store.append(s, [{ type: 'a', data: [] as unknown as Record<string, unknown> }]),
        'INVALID_ARGUMENT',
      );
      await expectCode(store.append(s, [event('a', { n: Number.NaN })]), 'INVALID_ARGUMENT');
      await expectCode(store.append(s, [event('a', { when: new Date() })]), 'INVALID_ARGUMENT');
      await expectCode(store.append(s, [event('a', { bad: 'x\uD800y' })]), 'INVALID_ARGUMENT');
      await expectCode(store.append(s, [event('a')], { expectedRevision: -1 }), 'INVALID_ARGUMENT');
      await expectCode(store.readAll({ limit: 0 }), 'INVALID_ARGUMENT');
      expect(await store.readStream(s)).toEqual([]);
    });

    it('accepts an event at the size limit and refuses one byte more', async () => {
      const limit = 64 * 1024;
      const store = await open({ maxEventBytes: limit });
      expect(store.capabilities.maxEventBytes).toBe(limit);
      const metadata = { idempotency_key: 'big' };
      const overhead =
        Buffer.byteLength(JSON.stringify({ blob: '' })) +
        Buffer.byteLength(JSON.stringify(metadata));
      const blob = 'é'.repeat((limit - overhead) / 2); // two UTF-8 bytes each: the limit is in bytes
      await store.append(`${ns}m`, [{ type: 'big', data: { blob }, metadata }]);
      const [stored] = await store.readStream(`${ns}m`);
      expect(stored!.data.blob).toBe(blob);
      const details = await expectCode(
        store.append(`${ns}m`, [
          { type: 'big', data: { blob: `${blob}x` }, metadata: { idempotency_key: 'bi2' } },
        ]),
        'EVENT_TOO_LARGE',
      );
      expect(details).toMatchObject({ limit, bytes: limit + 1 });
      expect(await store.readStream(`${ns}m`)).toHaveLength(1);
    });

    it('round-trips non-ASCII text byte for byte', async () => {
      const store = await open();
      const data = {
        'clé 🔑': 'valeur',
        emoji: '👩🏽‍💻 🧑‍🚀 🏳️‍🌈',
        cjk: '任務台帳 ミッション 임무',
        rtl: 'مهمة סְפַר',
        nfd: 'e\u0301', // not normalised to é
        nfc: '\u00e9',
        astral: '𝔘𝔫𝔦𝔠𝔬𝔡𝔢 𓀀',
        controls: 'tab\tnewline\nnull\u0000bell\u0007',
        quotes: '"\'\\/',
        zeroWidth: 'a\u200bb\ufeffc',
        nested: [{ ключ: 'значение' }, 'ελληνικά', 1.5, -0.25, 1e21, true, null],
      };
      await store.append(`${ns}ü`, [
        { type: 'mission.progress', data, metadata: { trace_id: 'trace-ß' } },
      ]);
      const [stored] = await store.readStream(`${ns}ü`);
      expect(Buffer.from(JSON.stringify(stored!.data))).toEqual(Buffer.from(JSON.stringify(data)));
      expect(stored!.stream).toBe(`${ns}ü`);
      expect(stored!.metadata.trace_id).toBe('trace-ß');
      const [fromLog] = (await readOwn(store, ns)).filter((e) => e.stream === `${ns}ü`);
      expect(Buffer.from(JSON.stringify(fromLog!.data))).toEqual(Buffer.from(JSON.stringify(data)));
    });

    it('pages the global log in one order', async () => {
      const store = await open();
      const start = await store.headPosition();
      for (let i = 0; i < 25; i += 1) await store.append(`${ns}s${i % 3}`, [event('e', { i })]);
      expect(await store.headPosition()).toBeGreaterThan(start);
      const pages: StoredEvent[] = [];
      let after = start;
      for (;;) {
        const page = await store.readAll({ after, limit: 7 });
        if (page.length === 0) break;
        expect(page.length).toBeLessThanOrEqual(7);
        pages.push(...page);
        after = page[page.length - 1]!.position;
      }
      const own = pages.filter((e) => e.stream.startsWith(ns));
      expect(own.map((e) => e.data.i)).toEqual(Array.from({ length: 25 }, (_, i) => i));
      const positions = pages.map((e) => e.position);
      expect(positions).toEqual([...positions].sort((a, b) => a - b));
      expect(new Set(positions).size).toBe(positions.length);
    });

    it('delivers every event exactly once, in order, with 16 concurrent writers and late commits', async () => {
      // Commits are stretched at random so that transactions finish out of their start order.
      const jitter = () => sleep(Math.random() < 0.3 ? Math.random() * 8 : 0);
      const store = await open({ beforeCommit: jitter });
      const other = await peer(store, { beforeCommit: jitter });
      const start = await store.headPosition();
      const writers = 16;
      const perWriter = 40;
      const subscriber = tail(store, ns, start, writers * perWriter);
      const committed: StoredEvent['position'][] = [];
      await Promise.all(
        Array.from({ length: writers }, async (_, w) => {
          const writer = w % 2 === 0 ? store : other;
          for (let i = 0; i < perWriter; i += 1) {
            const stream = `${ns}w${w}-s${i % 5}`;
            const r = await writer.append(stream, [event('e', { w, i })]);
            committed.push(r.positions[0]!);
          }
        }),
      );
      await Promise.race([
        subscriber.done,
        sleep(30_000).then(() => {
          throw new Error(`subscriber saw ${subscriber.seen.length} of ${writers * perWriter}`);
        }),
      ]);
      const delivered = subscriber.seen.map((e) => e.position);
      expect(delivered).toHaveLength(writers * perWriter);
      expect(new Set(delivered).size).toBe(delivered.length);
      expect(delivered).toEqual([...committed].sort((a, b) => a - b));
      const allPositions = subscriber.all.map((e) => e.position);
      expect(allPositions).toEqual([...allPositions].sort((a, b) => a - b));
      if (store.capabilities.densePositions) {
        expect(allPositions).toEqual(
          Array.from({ length: allPositions.length }, (_, i) => start + 1 + i),
        );
      }
      // Per stream, the subscriber saw each writer's events in the order they were written.
      for (let w = 0; w < writers; w += 1) {
        const own = subscriber.seen.filter((e) => e.data.w === w).map((e) => e.data.i);
        expect(own).toEqual(Array.from({ length: perWriter }, (_, i) => i));
      }
    });

    it('resumes from a checkpoint without repeating or missing an event', async () => {
      const store = await open();
      const start = await store.headPosition();
      for (let i = 0; i < 30; i += 1) await store.append(`${ns}a`, [event('e', { i })]);
      let checkpoint = start;
      const first: number[] = [];
      for await (const e of store.subscribe({ after: checkpoint, batchSize: 8 })) {
        if (!e.stream.startsWith(ns)) continue;
        first.push(e.data.i as number);
        checkpoint = e.position;
        if (first.length === 12) break;
      }
      // Writes continue while nobody is subscribed, and while the resumed subscriber catches up.
      const writing = (async () => {
        for (let i = 30; i < 60; i += 1) await store.append(`${ns}a`, [event('e', { i })]);
      })();
      const resumed = tail(store, ns, checkpoint, 48);
      await writing;
      await resumed.done;
      const all = [...first, ...resumed.seen.map((e) => e.data.i as number)];
      expect(all).toEqual(Array.from({ length: 60 }, (_, i) => i));
    });

    it('follows live appends, reports when caught up and ends when aborted', async () => {
      const store = await open();
      const start = await store.headPosition();
      await store.append(`${ns}a`, [event('e', { i: 0 })]);
      const controller = new AbortController();
      const caughtUp: number[] = [];
      const seen: number[] = [];
      const run = (async () => {
        for await (const e of store.subscribe({
          after: start,
          signal: controller.signal,
          onCaughtUp: (p) => caughtUp.push(p),
        })) {
          if (e.stream.startsWith(ns)) seen.push(e.data.i as number);
        }
      })();
      await expect.poll(() => caughtUp.length, { timeout: 10_000 }).toBeGreaterThan(0);
      const live = await store.append(`${ns}a`, [event('e', { i: 1 })]);
      await expect.poll(() => seen, { timeout: 10_000 }).toEqual([0, 1]);
      await expect
        .poll(() => caughtUp.at(-1), { timeout: 10_000 })
        .toBeGreaterThanOrEqual(live.positions[0]!);
      controller.abort();
      await run; // the iterator returns once aborted
    });

    it('sees appends made by another instance', async () => {
      const store = await open();
      const other = await peer(store);
      const start = await store.headPosition();
      const live = tail(store, ns, start, 3);
      for (let i = 0; i < 3; i += 1) await other.append(`${ns}x`, [event('e', { i })]);
      await live.done;
      expect(live.seen.map((e) => e.data.i)).toEqual([0, 1, 2]);
    });

    it('finishes in-flight appends on close and refuses calls after it', async () => {
      const store = await open();
      const inFlight = Array.from({ length: 20 }, (_, i) =>
        store.append(`${ns}c${i}`, [event('e')]),
      );
      await store.close();
      const results = await Promise.all(inFlight);
      expect(results.every((r) => r.revisions[0] === 0)).toBe(true);
      await expectCode(store.append(`${ns}late`, [event('e')]), 'STORE_CLOSED');
      await expectCode(store.readAll({ limit: 1 }), 'STORE_CLOSED');
      await store.close(); // closing twice is harmless
    });

    it('answers a ping while open', async () => {
      const store = await open();
      await expect(store.ping()).resolves.toBeUndefined();
    });
  });
}
