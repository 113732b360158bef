/**
 * Group commit: concurrent requests queue while one batch is in flight; the next batch takes
 * everything queued (up to a size cap), so at low load a request goes out at once (no timer,
 * no added latency) and at high load one transaction carries many requests.
 *
 * The flush function settles every request of its batch itself (each may succeed or fail on
 * its own, e.g. one expected-revision conflict must not fail its neighbours); if it throws, every
 * request it left unsettled fails with that error.
 */
export interface Pending<Req, Res> {
  request: Req;
  /** Weight of the request towards the batch cap (e.g. its number of events). */
  weight: number;
  resolve(result: Res): void;
  reject(error: unknown): void;
  settled: boolean;
}

export class GroupCommitQueue<Req, Res> {
  private queue: Pending<Req, Res>[] = [];
  private inFlight: Promise<void> | undefined;

  constructor(
    private readonly flush: (batch: Pending<Req, Res>[]) => Promise<void>,
    private readonly maxBatchWeight: number,
  ) {}

  /** Queues a request; resolves or rejects once the batch that carried it has committed. */
  submit(request: Req, weight: number): Promise<Res> {
    return new Promise<Res>((resolve, reject) => {
      const pending: Pending<Req, Res> = {
        request,
        weight,
        settled: false,
        resolve: (result) => {
          pending.settled = true;
          resolve(result);
        },
        reject: (error) => {
          pending.settled = true;
          reject(error);
        },
      };
      this.queue.push(pending);
      this.inFlight ??= this.drain();
    });
  }

  /** Resolves once nothing is queued or in flight. */
  async idle(): Promise<void> {
    while (this.inFlight !== undefined) await this.inFlight;
  }

  private async drain(): Promise<void> {
    try {
      while (this.queue.length > 0) {
        const batch = this.takeBatch();
        try {
          await this.flush(batch);
        } catch (error) {
          for (const pending of batch) if (!pending.settled) pending.reject(error);
        }
      }
    } finally {
      this.inFlight = undefined;
    }
  }

  /** Takes queued requests in arrival order until the cap; one oversized request still goes alone. */
  private takeBatch(): Pending<Req, Res>[] {
    let weight = 0;
    let count = 0;
    for (const pending of this.queue) {
      if (count > 0 && weight + pending.weight > this.maxBatchWeight) break;
      weight += pending.weight;
      count += 1;
    }
    return this.queue.splice(0, count);
  }
}
