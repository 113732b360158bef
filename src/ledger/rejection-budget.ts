import { DEFAULT_REJECTION_BYTES_PER_MINUTE, DEFAULT_REJECTIONS_PER_MINUTE } from '../defaults.ts';

/** How much one principal may make the ledger record as rejections, per minute. */
export interface RejectionLimits {
  /** Rejections recorded per principal per minute; also the burst. */
  perMinute: number;
  /** Bytes of recorded rejections (their data as JSON) per principal per minute; also the burst. */
  bytesPerMinute: number;
}

export const DEFAULT_REJECTION_LIMITS: RejectionLimits = {
  perMinute: DEFAULT_REJECTIONS_PER_MINUTE,
  bytesPerMinute: DEFAULT_REJECTION_BYTES_PER_MINUTE,
};

interface Bucket {
  count: number;
  bytes: number;
  at: number;
}

/**
 * Two token buckets per principal, one counting rejections and one their bytes, each refilled
 * continuously at its per-minute rate up to one minute's worth. Every recorded rejection takes
 * from both. Accepted inputs never take: they can only grow the sender's own missions, which the
 * contract bounds, while rejections are what a broken client or a stranger can make the ledger
 * store without limit. The buckets live in one process: N serving processes allow N times the rate.
 */
export class RejectionBudget {
  private readonly buckets = new Map<string, Bucket>();

  constructor(
    private readonly limits: RejectionLimits,
    private readonly clock: () => number,
  ) {}

  /**
   * Takes one rejection of `bytes` from `principal`'s budget. Returns undefined when it was
   * taken, or the whole seconds (at least 1) after which the same rejection would be.
   */
  take(principal: string, bytes: number): number | undefined {
    const { perMinute, bytesPerMinute } = this.limits;
    const now = this.clock();
    const size = Math.min(bytes, bytesPerMinute);
    const bucket = this.buckets.get(principal) ?? {
      count: perMinute,
      bytes: bytesPerMinute,
      at: now,
    };
    const minutes = Math.max(0, now - bucket.at) / 60_000;
    bucket.count = Math.min(perMinute, bucket.count + minutes * perMinute);
    bucket.bytes = Math.min(bytesPerMinute, bucket.bytes + minutes * bytesPerMinute);
    bucket.at = now;
    this.buckets.set(principal, bucket);
    if (bucket.count >= 1 && bucket.bytes >= size) {
      bucket.count -= 1;
      bucket.bytes -= size;
      return undefined;
    }
    const wait = Math.max(
      ((1 - bucket.count) / perMinute) * 60,
      ((size - bucket.bytes) / bytesPerMinute) * 60,
    );
    return Math.max(1, Math.ceil(wait));
  }
}
