import { afterEach, describe, expect, it } from 'vitest';
import { sharedLog } from '../../src/read-models/shared-log.ts';
import { openStore } from '../../src/store/open-store.ts';
import type { EventStore, ReadAllOptions, StoredEvent } from '../../src/store/port.ts';

const closers: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const close of closers.splice(0)) await close();
});

/** A PGlite store holding `n` events, and a count of the pages read from it. */
async function counted(n: number) {
  const store = await openStore('pglite:memory');
  closers.push(() => store.close());
  for (let i = 0; i < n; i += 1) {
    await store.append(`s-${i % 7}`, [{ type: 'test.e', data: { i } }]);
  }
  const reads: number[] = [];
  const counting: EventStore = Object.assign(Object.create(store) as EventStore, {
    readAll: (options: ReadAllOptions) => {
      reads.push(options.after ?? 0);
      return store.readAll(options);
    },
  });
  return { store, counting, reads };
}

async function take(events: AsyncIterator<StoredEvent>, n: number): Promise<number[]> {
  const out: number[] = [];
  while (out.length < n) {
    const step = await events.next();
    if (step.done === true) break;
    out.push(step.value.position);
  }
  return out;
}

describe('sharedLog', () => {
  it('reads each page once for readers moving together, and delivers every event to each', async () => {
    const { counting, reads } = await counted(95);
    const shared = sharedLog(counting, { pageSize: 10, maxPages: 3 });
    const signal = new AbortController();
    const readers = [0, 1, 2].map(() => shared.subscribe({ signal: signal.signal }));
    const got = await Promise.all(readers.map((r) => take(r, 95)));
    signal.abort();
    for (const positions of got) {
      expect(positions).toEqual(Array.from({ length: 95 }, (_, i) => i + 1));
    }
    // Pages after 0, 10, ..., 90: once each, whatever the interleaving.
    expect(reads.filter((after) => after % 10 === 0).sort((a, b) => a - b)).toEqual([
      0, 10, 20, 30, 40, 50, 60, 70, 80, 90,
    ]);
    for (const r of readers) await r.return?.();
  });

  it('holds a fast reader back so at most maxPages are kept, and lets it go when the slow one moves', async () => {
    const { counting } = await counted(60);
    const shared = sharedLog(counting, { pageSize: 10, maxPages: 2 });
    const signal = new AbortController();
    const fast = shared.subscribe({ signal: signal.signal });
    const slow = shared.subscribe({ signal: signal.signal });
    expect(await take(slow, 1)).toEqual([1]);
    let fastSeen = 0;
    const running = (async () => {
      while (fastSeen < 60 && (await fast.next()).done !== true) fastSeen += 1;
    })();
    await new Promise((resolve) => setTimeout(resolve, 200));
    // The slow reader took the first page and needs the second: pages 2 and 3 are held (the
    // limit), so the fast reader, through three pages, waits for the fourth.
    expect(fastSeen).toBe(30);
    expect(await take(slow, 59)).toHaveLength(59);
    await running;
    expect(fastSeen).toBe(60);
    signal.abort();
    await fast.return?.();
    await slow.return?.();
  });

  it('follows the log live once a reader reaches its end', async () => {
    const { store, counting } = await counted(5);
    const shared = sharedLog(counting, { pageSize: 10 });
    const signal = new AbortController();
    const reader = shared.subscribe({ signal: signal.signal });
    expect(await take(reader, 5)).toEqual([1, 2, 3, 4, 5]);
    const later = take(reader, 2);
    await store.append('s-live', [
      { type: 'test.e', data: {} },
      { type: 'test.e', data: {} },
    ]);
    expect(await later).toEqual([6, 7]);
    signal.abort();
    await reader.return?.();
  });

  it('never holds back the slowest reader: one joining late catches up without stalling the others', async () => {
    const { counting } = await counted(50);
    const shared = sharedLog(counting, { pageSize: 10, maxPages: 2 });
    const signal = new AbortController();
    const early = shared.subscribe({ signal: signal.signal });
    expect(await take(early, 25)).toHaveLength(25); // pages after 0 and 10 dropped or held
    const late = shared.subscribe({ signal: signal.signal });
    const [a, b] = await Promise.all([take(early, 25), take(late, 50)]);
    expect(a).toEqual(Array.from({ length: 25 }, (_, i) => i + 26));
    expect(b).toEqual(Array.from({ length: 50 }, (_, i) => i + 1));
    signal.abort();
    await early.return?.();
    await late.return?.();
  });

  it('refuses a page with a hole in its positions', async () => {
    const { store } = await counted(5);
    const holed: EventStore = Object.assign(Object.create(store) as EventStore, {
      readAll: async (options: ReadAllOptions) =>
        (await store.readAll(options)).filter((e) => e.position !== 3),
    });
    const reader = sharedLog(holed, { pageSize: 10 }).subscribe({});
    await expect(take(reader, 5)).rejects.toMatchObject({
      code: 'LOG_INTEGRITY_VIOLATION',
      details: { expected: 3, found: 4 },
    });
  });
});
