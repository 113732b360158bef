import { afterEach, describe, expect, it, vi } from 'vitest';
import { isLedgerError } from '../../src/errors.ts';
import { MemoryEventStore, openMemoryStore } from '../../src/store/memory/memory-store.ts';
import type { StoredEvent } from '../../src/store/port.ts';

/*
 * What the shared contract (test/contract/memory.test.ts) cannot say about the memory store:
 * readers share no mutable object with the log, live subscribers are woken by the append itself,
 * and a handle's close waits for its queued appends while other handles on the log go on.
 */
describe('MemoryEventStore', () => {
  afterEach(() => {
    vi.useRealTimers();
  });

  it('keeps the log as appended whatever the appender or a reader does to their objects', async () => {
    const store = openMemoryStore();
    const data = { n: 1, nested: { list: [1, 2] } };
    await store.append('s', [{ type: 'e', data, metadata: { actor: 'operator:a' } }]);
    data.n = 2;
    data.nested.list.push(3);

    const [read] = await store.readStream('s');
    expect(read!.data).toEqual({ n: 1, nested: { list: [1, 2] } });
    const attempts: (() => void)[] = [
      () => ((read!.data as { n: number }).n = 9),
      () => (read!.data.nested as { list: number[] }).list.push(4),
      () => ((read!.metadata as { actor: string }).actor = 'x'),
      () => ((read as { type: string }).type = 'other'),
    ];
    for (const attempt of attempts) expect(attempt).toThrow(TypeError);

    const [fromLog] = await store.readAll({ limit: 10 });
    expect(fromLog).toMatchObject({ type: 'e', data: { n: 1, nested: { list: [1, 2] } } });
    expect(fromLog!.metadata.actor).toBe('operator:a');
  });

  it('wakes a waiting subscriber on append, with no timer involved', async () => {
    // With fake timers no poll interval can ever fire, so delivery proves the append woke it.
    vi.useFakeTimers();
    const store = openMemoryStore();
    const controller = new AbortController();
    const caughtUp: number[] = [];
    const seen: StoredEvent[] = [];
    const run = (async () => {
      for await (const e of store.subscribe({
        signal: controller.signal,
        onCaughtUp: (p) => caughtUp.push(p),
      })) {
        seen.push(e);
      }
    })();
    await flushMicrotasks();
    expect(caughtUp).toEqual([0]);
    await store.append('s', [{ type: 'e', data: { i: 1 } }]);
    await flushMicrotasks();
    expect(seen.map((e) => e.position)).toEqual([1]);
    expect(caughtUp).toEqual([0, 1]);
    expect(vi.getTimerCount()).toBe(0);
    controller.abort();
    await run;
  });

  it('ends a subscription when its handle closes, and keeps peers on the log open', async () => {
    const store = openMemoryStore();
    const peer = new MemoryEventStore(store.log);
    const seen: number[] = [];
    const run = (async () => {
      for await (const e of store.subscribe()) seen.push(e.position);
    })();
    await peer.append('s', [{ type: 'e', data: {} }]);
    await expect.poll(() => seen).toEqual([1]);
    await store.close();
    await run; // returns once its store is closed
    const r = await peer.append('s', [{ type: 'e', data: {} }], { expectedRevision: 0 });
    expect(r.positions).toEqual([2]);
    expect(await peer.headPosition()).toBe(2);
  });

  it('lets queued appends finish on close, commits in call order, then refuses calls', async () => {
    let release!: () => void;
    const gate = new Promise<void>((resolve) => (release = resolve));
    const slow = openMemoryStore({ beforeCommit: () => gate });
    const fast = new MemoryEventStore(slow.log);
    const first = slow.append('s', [{ type: 'first', data: {} }], {
      expectedRevision: 'no_stream',
    });
    // Queued behind the slow one although it has no hook: commits keep the order of the calls.
    const second = fast.append('s', [{ type: 'second', data: {} }], { expectedRevision: 0 });
    const closed = slow.close();
    expect(await fast.headPosition()).toBe(0);
    release();
    await closed;
    expect((await first).positions).toEqual([1]);
    expect((await second).positions).toEqual([2]);
    expect((await fast.readStream('s')).map((e) => e.type)).toEqual(['first', 'second']);
    await expect(slow.readStream('s')).rejects.toSatisfy((e) => isLedgerError(e, 'STORE_CLOSED'));
    await expect(slow.ping()).rejects.toSatisfy((e) => isLedgerError(e, 'STORE_CLOSED'));
  });

  it('reads a stream or the log from any place in it, and refuses places that are not counts', async () => {
    const store = openMemoryStore();
    for (let i = 0; i < 10; i += 1) {
      await store.append(`s${i % 2}`, [{ type: 'e', data: { i } }]);
    }
    const odd = await store.readStream('s1', { fromRevision: 2, limit: 2 });
    expect(odd.map((e) => [e.revision, e.data.i])).toEqual([
      [2, 5],
      [3, 7],
    ]);
    expect(await store.readStream('s1', { fromRevision: 9 })).toEqual([]);
    expect((await store.readAll({ after: 7, limit: 5 })).map((e) => e.position)).toEqual([
      8, 9, 10,
    ]);
    expect(await store.readAll({ after: 10, limit: 5 })).toEqual([]);
    for (const call of [
      store.readAll({ after: -1, limit: 5 }),
      store.readAll({ after: 1.5, limit: 5 }),
      store.readStream('s1', { fromRevision: -1 }),
      store.readStream('s1', { limit: Number.NaN }),
    ]) {
      await expect(call).rejects.toSatisfy((e) => isLedgerError(e, 'INVALID_ARGUMENT'));
    }
  });

  it('stamps recorded_at from the clock it is given', async () => {
    const store = openMemoryStore({ now: () => new Date('2026-01-02T03:04:05.000Z') });
    await store.append('s', [{ type: 'e', data: {} }]);
    const [read] = await store.readStream('s');
    expect(read!.metadata.recorded_at).toBe('2026-01-02T03:04:05.000Z');
  });
});

async function flushMicrotasks(): Promise<void> {
  for (let i = 0; i < 20; i += 1) await Promise.resolve();
}
