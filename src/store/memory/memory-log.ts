import {
  NO_STREAM,
  expectedRevisionHolds,
  resolveIdempotency,
  revisionConflict,
  type KeyedEvent,
  type PreparedEvent,
  duplicateAppend,
} from '../append-plan.ts';
import type {
  AppendResult,
  ExpectedRevision,
  NewEventMetadata,
  Position,
  Revision,
  StoredEvent,
} from '../port.ts';
import { deepFreeze } from './deep-freeze.ts';

/** One append, validated and serialized by `prepareAppend`. */
export interface MemoryAppend {
  stream: string;
  events: PreparedEvent[];
  expected: ExpectedRevision;
}

interface StreamState {
  /** The stream's events; the index is the revision. */
  events: StoredEvent[];
  /** The stream's events that carry an idempotency key, by key. */
  keyed: Map<string, StoredEvent>;
}

export interface MemoryEventLogOptions {
  /** The clock that stamps `metadata.recorded_at`. Default: the system clock. */
  now?: () => Date;
}

/**
 * One in-memory log, shared by every `MemoryEventStore` opened on it, as processes share a
 * database. Nothing is kept after the process exits.
 *
 * Invariants:
 * - `all[i].position === i + 1`: positions are dense, and `readAll` is a slice of `all`;
 * - within a stream, `events[r].revision === r`;
 * - every event held is deeply frozen and shares no object with an appender, so every reader
 *   can be handed the same objects and none can change the log;
 * - a commit is one synchronous step (decide, push, wake), so no reader ever sees part of an
 *   append, and commits happen in the order appends are queued.
 */
export class MemoryEventLog {
  private readonly all: StoredEvent[] = [];
  private readonly streams = new Map<string, StreamState>();
  /** Subscribers waiting for an event beyond what they have read; each is woken once. */
  private readonly waiters = new Set<() => void>();
  /**
   * The last queued append, while any is queued. Appends queue only behind a commit hook (a test
   * that stretches commit timing); otherwise an append commits within the call.
   */
  private queued: Promise<unknown> | undefined;
  private readonly now: () => Date;

  constructor(options: MemoryEventLogOptions = {}) {
    this.now = options.now ?? (() => new Date());
  }

  /** The position of the last event (0 when empty). */
  get head(): Position {
    return this.all.length;
  }

  /**
   * Decides and commits an append: at once when nothing is queued and there is no hook, else in
   * turn after the appends queued before it, awaiting `beforeCommit` just before its commit.
   * Throws (or rejects with) `EXPECTED_REVISION_CONFLICT` or `IDEMPOTENCY_KEY_REUSED`, having
   * appended nothing.
   */
  append(
    request: MemoryAppend,
    beforeCommit?: () => Promise<void>,
  ): AppendResult | Promise<AppendResult> {
    if (beforeCommit === undefined && this.queued === undefined) return this.commit(request);
    const result = (this.queued ?? Promise.resolve()).then(async () => {
      await beforeCommit?.();
      return this.commit(request);
    });
    const turn = result.then(
      () => undefined,
      () => undefined,
    );
    this.queued = turn;
    void turn.then(() => {
      if (this.queued === turn) this.queued = undefined;
    });
    return result;
  }

  /** Events strictly after `after`, at most `limit` of them: O(limit). */
  page(after: Position, limit: number): StoredEvent[] {
    return this.all.slice(after, after + limit);
  }

  /** A stream's events from `fromRevision`, at most `limit` (all when undefined): O(events read). */
  readStream(stream: string, fromRevision: Revision, limit: number | undefined): StoredEvent[] {
    const events = this.streams.get(stream)?.events;
    if (events === undefined) return [];
    return events.slice(fromRevision, limit === undefined ? undefined : fromRevision + limit);
  }

  /**
   * Resolves once the log holds an event beyond `after`, or any of `signals` aborts. A commit
   * wakes every waiter directly: nothing polls.
   */
  waitBeyond(after: Position, signals: readonly (AbortSignal | undefined)[]): Promise<void> {
    if (this.head > after || signals.some((s) => s?.aborted === true)) return Promise.resolve();
    return new Promise((resolve) => {
      const done = () => {
        this.waiters.delete(done);
        for (const signal of signals) signal?.removeEventListener('abort', done);
        resolve();
      };
      this.waiters.add(done);
      for (const signal of signals) signal?.addEventListener('abort', done, { once: true });
    });
  }

  private commit(request: MemoryAppend): AppendResult {
    const { stream, events, expected } = request;
    const state = this.streams.get(stream);
    const current = state === undefined ? NO_STREAM : state.events.length - 1;
    const existing = new Map<string, KeyedEvent>();
    if (state !== undefined) {
      for (const { idempotencyKey } of events) {
        const held = idempotencyKey === undefined ? undefined : state.keyed.get(idempotencyKey);
        if (held !== undefined) existing.set(idempotencyKey!, held);
      }
    }
    const idempotency = resolveIdempotency(stream, events, existing);
    if (idempotency.kind === 'duplicate') {
      return duplicateAppend(stream, idempotency, current);
    }
    if (!expectedRevisionHolds(expected, current))
      throw revisionConflict(stream, expected, current);

    // Nothing below can fail: the append is decided, and lands whole.
    const target = state ?? { events: [], keyed: new Map<string, StoredEvent>() };
    if (state === undefined) this.streams.set(stream, target);
    const recordedAt = this.now().toISOString();
    const revisions: Revision[] = [];
    const positions: Position[] = [];
    for (const event of events) {
      // Parsed from the serialized form: a copy the appender cannot reach, holding exactly what
      // the SQL store would return for the same text.
      const metadata = JSON.parse(event.metadataJson) as NewEventMetadata;
      const stored: StoredEvent = deepFreeze({
        id: event.id,
        stream,
        revision: target.events.length,
        position: this.all.length + 1,
        type: event.type,
        data: JSON.parse(event.dataJson) as StoredEvent['data'],
        metadata: { ...metadata, recorded_at: recordedAt },
      });
      target.events.push(stored);
      this.all.push(stored);
      if (event.idempotencyKey !== undefined) target.keyed.set(event.idempotencyKey, stored);
      revisions.push(stored.revision);
      positions.push(stored.position);
    }
    if (this.waiters.size > 0) for (const wake of [...this.waiters]) wake();
    return {
      stream,
      revisions,
      positions,
      nextExpectedRevision: target.events.length - 1,
      duplicate: false,
    };
  }
}
