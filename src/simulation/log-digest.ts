import { createHash, type Hash } from 'node:crypto';
import { canonicalJson } from '../audit/canonical-json.ts';
import type { StoredEvent } from '../store/port.ts';

/**
 * The SHA-256 of a log, computed as events are appended: for each event in position order, the
 * RFC 8785 canonical JSON of `{position, stream, revision, type, data}` followed by `\n`. Event
 * ids and store timestamps are left out: they are not deterministic, the rest is.
 */
export class LogDigest {
  private readonly hash: Hash = createHash('sha256');
  private last = 0;

  /** Adds the next event of the log; positions must follow on from the last one added. */
  add(event: Pick<StoredEvent, 'position' | 'stream' | 'revision' | 'type' | 'data'>): void {
    if (event.position !== this.last + 1) {
      throw new Error(`log digest: position ${event.position} after ${this.last}`);
    }
    this.last = event.position;
    const { position, stream, revision, type, data } = event;
    this.hash.update(`${canonicalJson({ position, stream, revision, type, data })}\n`);
  }

  /** Events added so far: the position of the last one. */
  get events(): number {
    return this.last;
  }

  /** Lowercase hex; ends the digest, so call it once. */
  hex(): string {
    return this.hash.digest('hex');
  }
}
