import { describe, expect, it } from 'vitest';
import {
  GroupCommitQueue,
  type GroupCommitOptions,
  type Pending,
} from '../../src/store/sql/group-commit.ts';

interface Deferred {
  promise: Promise<void>;
  resolve(): void;
}

function deferred(): Deferred {
  let resolve!: () => void;
  const promise = new Promise<void>((r) => (resolve = r));
  return { promise, resolve };
}

/** Lets the queue's setImmediate scheduling and the flush's awaits run. */
async function turns(n = 5): Promise<void> {
  for (let i = 0; i < n; i += 1) await new Promise<void>((r) => setImmediate(r));
}

type Settlement = { ok: string } | { error: unknown };

/**
 * A flush that records each batch (request ids in batch order) and, by default, resolves every
 * request with `<id>:done`. It can be told to hold each batch on a deferred promise, to settle
 * chosen requests itself first, or to throw.
 */
class FakeFlush {
  readonly batches: string[][] = [];
  readonly gates: Deferred[] = [];
  hold = false;
  /** Called before the default resolution; may settle some pendings itself or throw. */
  before: ((batch: Pending<string, string>[], index: number) => void) | undefined;

  readonly flush = async (batch: Pending<string, string>[]): Promise<void> => {
    const index = this.batches.push(batch.map((p) => p.request)) - 1;
    if (this.hold) {
      const gate = deferred();
      this.gates[index] = gate;
      await gate.promise;
    }
    this.before?.(batch, index);
    for (const pending of batch) if (!pending.settled) pending.resolve(`${pending.request}:done`);
  };

  queue(options: Partial<GroupCommitOptions> = {}): GroupCommitQueue<string, string> {
    return new GroupCommitQueue<string, string>(this.flush, {
      maxBatchWeight: 100,
      maxInFlight: 2,
      ...options,
    });
  }

  release(index: number): void {
    const gate = this.gates[index];
    if (gate === undefined) throw new Error(`batch ${index} has not started`);
    gate.resolve();
  }
}

/** Records how a promise settled without letting a rejection go unhandled. */
function track(promise: Promise<string>): { result: Settlement | undefined } {
  const box: { result: Settlement | undefined } = { result: undefined };
  promise.then(
    (ok) => (box.result = { ok }),
    (error: unknown) => (box.result = { error }),
  );
  return box;
}

describe('GroupCommitQueue', () => {
  it('sends requests submitted in the same turn as one batch', async () => {
    const fake = new FakeFlush();
    const queue = fake.queue();
    const results = await Promise.all([
      queue.submit('a', 'ka', 1),
      queue.submit('b', 'kb', 1),
      queue.submit('c', 'kc', 1),
    ]);
    expect(results).toEqual(['a:done', 'b:done', 'c:done']);
    expect(fake.batches).toEqual([['a', 'b', 'c']]);

    // A request submitted after that batch finished goes in a batch of its own.
    expect(await queue.submit('d', 'ka', 1)).toBe('d:done');
    expect(fake.batches).toEqual([['a', 'b', 'c'], ['d']]);
  });

  it('never puts two requests with one key in a batch and keeps their arrival order', async () => {
    const fake = new FakeFlush();
    const queue = fake.queue({ maxInFlight: 2 });
    const results = await Promise.all([
      queue.submit('x1', 'x', 1),
      queue.submit('y1', 'y', 1),
      queue.submit('x2', 'x', 1),
      queue.submit('x3', 'x', 1),
      queue.submit('y2', 'y', 1),
      queue.submit('z1', 'z', 1),
    ]);
    expect(results).toEqual(['x1:done', 'y1:done', 'x2:done', 'x3:done', 'y2:done', 'z1:done']);
    expect(fake.batches).toEqual([['x1', 'y1', 'z1'], ['x2', 'y2'], ['x3']]);
    for (const batch of fake.batches) {
      const keys = batch.map((id) => id[0]);
      expect(new Set(keys).size).toBe(keys.length);
    }
  });

  it('does not give a key in flight to a second concurrent batch, but does give it other keys', async () => {
    const fake = new FakeFlush();
    fake.hold = true;
    const queue = fake.queue({ maxInFlight: 2 });

    const a1 = track(queue.submit('a1', 'A', 1));
    await turns();
    expect(fake.batches).toEqual([['a1']]);

    // Batch 0 (key A) is still in flight: b1 goes out beside it, a2 waits.
    const a2 = track(queue.submit('a2', 'A', 1));
    const b1 = track(queue.submit('b1', 'B', 1));
    await turns();
    expect(fake.batches).toEqual([['a1'], ['b1']]);

    // Two batches in flight is the cap: c1 waits although its key is free.
    const c1 = track(queue.submit('c1', 'C', 1));
    await turns();
    expect(fake.batches).toHaveLength(2);

    // B finishes: c1 takes the free slot; a2 still may not, its key is in flight.
    fake.release(1);
    await turns();
    expect(b1.result).toEqual({ ok: 'b1:done' });
    expect(fake.batches).toEqual([['a1'], ['b1'], ['c1']]);
    expect(a1.result).toBeUndefined();
    expect(a2.result).toBeUndefined();

    // A's first request finishes: only now does a2 go out.
    fake.release(0);
    await turns();
    expect(a1.result).toEqual({ ok: 'a1:done' });
    expect(fake.batches).toEqual([['a1'], ['b1'], ['c1'], ['a2']]);
    expect(a2.result).toBeUndefined();

    fake.release(2);
    fake.release(3);
    await queue.idle();
    expect(c1.result).toEqual({ ok: 'c1:done' });
    expect(a2.result).toEqual({ ok: 'a2:done' });
  });

  it('caps a batch at maxBatchWeight, yet sends a single heavier request alone', async () => {
    const fake = new FakeFlush();
    const queue = fake.queue({ maxBatchWeight: 5, maxInFlight: 1 });
    await Promise.all([
      queue.submit('a', 'ka', 2),
      queue.submit('b', 'kb', 3), // 2 + 3 = 5: exactly at the cap, same batch
      queue.submit('c', 'kc', 1), // would make 6
      queue.submit('d', 'kd', 4),
      queue.submit('heavy', 'kh', 9),
      queue.submit('e', 'ke', 1),
    ]);
    expect(fake.batches).toEqual([['a', 'b'], ['c', 'd'], ['heavy'], ['e']]);

    // A heavy request first in line is not starved either.
    fake.batches.length = 0;
    const results = await Promise.all([queue.submit('big', 'k1', 50), queue.submit('f', 'k2', 1)]);
    expect(results).toEqual(['big:done', 'f:done']);
    expect(fake.batches).toEqual([['big'], ['f']]);
  });

  it('rejects only the requests a throwing flush left unsettled, then keeps working', async () => {
    const fake = new FakeFlush();
    const queue = fake.queue();
    const own = new Error('conflict for b');
    const boom = new Error('connection lost');
    fake.before = (batch, index) => {
      if (index !== 0) return;
      batch[0]!.resolve('a:early');
      batch[1]!.reject(own);
      throw boom;
    };
    const results = await Promise.allSettled([
      queue.submit('a', 'ka', 1),
      queue.submit('b', 'kb', 1),
      queue.submit('c', 'kc', 1),
      queue.submit('d', 'kd', 1),
    ]);
    expect(fake.batches).toEqual([['a', 'b', 'c', 'd']]);
    expect(results).toEqual([
      { status: 'fulfilled', value: 'a:early' },
      { status: 'rejected', reason: own },
      { status: 'rejected', reason: boom },
      { status: 'rejected', reason: boom },
    ]);
    expect((results[1] as PromiseRejectedResult).reason).toBe(own);
    expect((results[2] as PromiseRejectedResult).reason).toBe(boom);

    // Keys of the failed batch are free again and the queue still flushes.
    expect(await Promise.all([queue.submit('a2', 'ka', 1), queue.submit('c2', 'kc', 1)])).toEqual([
      'a2:done',
      'c2:done',
    ]);
    expect(fake.batches).toEqual([
      ['a', 'b', 'c', 'd'],
      ['a2', 'c2'],
    ]);
    await expect(queue.idle()).resolves.toBeUndefined();
  });

  it('turns a non-Error thrown by flush into an Error for the requests it fails', async () => {
    const fake = new FakeFlush();
    const queue = fake.queue();
    fake.before = () => {
      // eslint-disable-next-line @typescript-eslint/only-throw-error -- the case under test
      throw 'socket closed';
    };
    const error = await queue.submit('a', 'ka', 1).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(Error);
    expect((error as Error).message).toBe('socket closed');
  });

  it('lets one request fail on its own without affecting its neighbours', async () => {
    const fake = new FakeFlush();
    const queue = fake.queue();
    const conflict = new Error('expected revision conflict');
    fake.before = (batch) => {
      for (const pending of batch) if (pending.request === 'b') pending.reject(conflict);
    };
    const results = await Promise.allSettled([
      queue.submit('a', 'ka', 1),
      queue.submit('b', 'kb', 1),
      queue.submit('c', 'kc', 1),
    ]);
    expect(fake.batches).toEqual([['a', 'b', 'c']]);
    expect(results[0]).toEqual({ status: 'fulfilled', value: 'a:done' });
    expect(results[1].status).toBe('rejected');
    expect((results[1] as PromiseRejectedResult).reason).toBe(conflict);
    expect(results[2]).toEqual({ status: 'fulfilled', value: 'c:done' });
  });

  it('resolves idle() only once all queued and in-flight work is settled', async () => {
    const fake = new FakeFlush();
    const queue = fake.queue({ maxInFlight: 2 });
    await expect(queue.idle()).resolves.toBeUndefined(); // nothing to wait for

    fake.hold = true;
    const a1 = track(queue.submit('a1', 'A', 1));
    const a2 = track(queue.submit('a2', 'A', 1));
    const b1 = track(queue.submit('b1', 'B', 1));
    let idle = false;
    let settledAtIdle: (Settlement | undefined)[] = [];
    // Asked before the first batch even started: the queued work counts.
    void queue.idle().then(() => {
      idle = true;
      settledAtIdle = [a1.result, a2.result, b1.result];
    });

    await turns();
    expect(fake.batches).toEqual([['a1', 'b1']]);
    expect(idle).toBe(false);

    fake.release(0);
    await turns();
    expect(a1.result).toEqual({ ok: 'a1:done' });
    expect(fake.batches).toEqual([['a1', 'b1'], ['a2']]);
    expect(idle).toBe(false); // a2 is in flight

    fake.release(1);
    await turns();
    expect(idle).toBe(true);
    expect(settledAtIdle).toEqual([{ ok: 'a1:done' }, { ok: 'a2:done' }, { ok: 'b1:done' }]);
  });

  it('resolves idle() after a batch whose flush threw', async () => {
    const fake = new FakeFlush();
    fake.hold = true;
    const queue = fake.queue();
    fake.before = () => {
      throw new Error('down');
    };
    const a = track(queue.submit('a', 'ka', 1));
    let idle = false;
    void queue.idle().then(() => (idle = true));
    await turns();
    expect(idle).toBe(false);
    fake.release(0);
    await turns();
    expect(idle).toBe(true);
    expect(a.result).toEqual({ error: new Error('down') });
  });
});
