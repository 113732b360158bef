import type { Reason } from '../domain/decider.ts';

/** What a later retry needs to know about an input recorded under an idempotency key. */
export interface PriorOutcome {
  revision: number;
  position: number;
  /** Digest of the input as recorded (RFC 8785 canonical JSON); undefined if none was recorded. */
  inputDigest: string | undefined;
  /** Present when the input was rejected. */
  reasons: Reason[] | undefined;
  /** What the answer to the input said besides its position (the aggregate's `answerOf`). */
  answer: Record<string, unknown>;
}

/** A stream folded up to `revision`, with the outcomes of its scoped idempotency keys. */
export interface Fold<State> {
  /** Revision of the last folded event; -1 when the stream has none. */
  revision: number;
  state: State;
  priors: Map<string, PriorOutcome>;
}

/**
 * Folded streams, least recently used evicted first. Commands decide on the cached fold and
 * append with its revision as the expected revision: when another process moved the stream, the
 * append conflicts and the command reads what it missed and decides again. So the cache is never
 * trusted for correctness, only for speed: one round trip per command instead of two.
 */
export class FoldCache<State> {
  private readonly entries = new Map<string, Fold<State>>();

  constructor(private readonly capacity: number) {}

  get(stream: string): Fold<State> | undefined {
    const entry = this.entries.get(stream);
    if (entry !== undefined) {
      this.entries.delete(stream);
      this.entries.set(stream, entry);
    }
    return entry;
  }

  set(stream: string, entry: Fold<State>): void {
    this.entries.delete(stream);
    this.entries.set(stream, entry);
    if (this.entries.size > this.capacity) {
      const oldest = this.entries.keys().next().value;
      if (oldest !== undefined) this.entries.delete(oldest);
    }
  }

  /**
   * Replaces the fold a command decided on with `next` (that fold advanced by the events the
   * command appended), but only if the cached fold is still the one decided on; otherwise drops
   * it, and the next command reads afresh.
   */
  advance(stream: string, decidedOn: Fold<State>, next: Fold<State>): void {
    if (this.entries.get(stream) !== decidedOn) {
      this.entries.delete(stream);
      return;
    }
    this.set(stream, next);
  }

  delete(stream: string): void {
    this.entries.delete(stream);
  }
}
