/**
 * Group commit: concurrent requests queue while batches are in flight; the next batch takes
 * everything queued (up to a size cap), so at low load a request goes out after one event-loop
 * turn (no timer) and at high load one transaction carries many requests.
 *
 * Up to `maxInFlight` batches run at once. The database still commits them one after another
 * (they serialise on the head lock), but a request that arrives while a batch is executing goes
 * out at once and waits at the lock, instead of waiting for the answer first.
 *
 * Requests with the same key (the stream) are never in flight together: they go out in arrival
 * order, each in a later batch than the one before it.
 *
 * The flush function settles every request of its batch itself (each may succeed or fail on
 * its own, e.g. one expected-revision conflict must not fail its neighbours); if it throws, every
 * request it left unsettled fails with that error.
 */
export interface Pending<Req, Res> {
  request: Req;
  key: string;
  /** Weight of the request towards the batch cap (e.g. its number of events). */
  weight: number;
  resolve(result: Res): void;
  reject(error: unknown): void;
  settled: boolean;
}

export interface GroupCommitOptions {
  /** Largest total weight of one batch; a single heavier request still goes, alone. */
  maxBatchWeight: number;
  /** Batches in flight at once. */
  maxInFlight: number;
}

export class GroupCommitQueue<Req, Res> {
  private queue: Pending<Req, Res>[] = [];
  private readonly busyKeys = new Set<string>();
  private active = 0;
  private scheduled = false;
  private readonly idleWaiters: (() => void)[] = [];

  constructor(
    private readonly flush: (batch: Pending<Req, Res>[]) => Promise<void>,
    private readonly options: GroupCommitOptions,
  ) {}

  /** Queues a request; resolves or rejects once the batch that carried it has committed. */
  submit(request: Req, key: string, weight: number): Promise<Res> {
    return new Promise<Res>((resolve, reject) => {
      const pending: Pending<Req, Res> = {
        request,
        key,
        weight,
        settled: false,
        resolve: (result) => {
          pending.settled = true;
          resolve(result);
        },
        reject: (error) => {
          pending.settled = true;
          reject(error instanceof Error ? error : new Error(String(error)));
        },
      };
      this.queue.push(pending);
      this.schedule();
    });
  }

  /** Resolves once nothing is queued or in flight. */
  idle(): Promise<void> {
    if (this.active === 0 && this.queue.length === 0) return Promise.resolve();
    return new Promise((resolve) => this.idleWaiters.push(resolve));
  }

  /**
   * Callers answered by a batch usually submit again within the same turn of the event loop.
   * Starting a batch at once would send the first of them alone and the rest after it (a convoy
   * of alternating tiny and large batches); waiting one turn lets them all join.
   */
  private schedule(): void {
    if (this.scheduled) return;
    this.scheduled = true;
    setImmediate(() => {
      this.scheduled = false;
      this.pump();
    });
  }

  private pump(): void {
    while (this.active < this.options.maxInFlight) {
      const batch = this.takeBatch();
      if (batch.length === 0) break;
      this.active += 1;
      for (const pending of batch) this.busyKeys.add(pending.key);
      void this.run(batch);
    }
    if (this.active === 0 && this.queue.length === 0) {
      for (const wake of this.idleWaiters.splice(0)) wake();
    }
  }

  private async run(batch: Pending<Req, Res>[]): Promise<void> {
    try {
      await this.flush(batch);
      // A flush that forgot a request would leave its caller waiting forever.
      for (const pending of batch) {
        if (!pending.settled)
          pending.reject(new Error('group commit: the flush settled no outcome for this request'));
      }
    } catch (error) {
      for (const pending of batch) if (!pending.settled) pending.reject(error);
    } finally {
      this.active -= 1;
      for (const pending of batch) this.busyKeys.delete(pending.key);
      if (this.queue.length > 0) this.schedule();
      else this.pump();
    }
  }

  /**
   * Takes queued requests in arrival order until the cap, leaving queued (in order) any whose key
   * is in this batch or in flight.
   */
  private takeBatch(): Pending<Req, Res>[] {
    const batch: Pending<Req, Res>[] = [];
    const rest: Pending<Req, Res>[] = [];
    const keys = new Set<string>();
    let weight = 0;
    let full = false;
    for (const pending of this.queue) {
      if (!full && batch.length > 0 && weight + pending.weight > this.options.maxBatchWeight) {
        full = true;
      }
      if (full || keys.has(pending.key) || this.busyKeys.has(pending.key)) {
        rest.push(pending);
        continue;
      }
      keys.add(pending.key);
      weight += pending.weight;
      batch.push(pending);
    }
    this.queue = rest;
    return batch;
  }
}
