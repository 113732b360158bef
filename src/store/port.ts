import type { JsonObject } from '../json.ts';
import type { NewEventMetadata, StoredEvent } from '../../schemas/stored-event.ts';

export type { StoredEvent, NewEventMetadata };

/** A stream's 0-based revision: the revision of its last event. */
export type Revision = number;

/** A place in the one global order. `0` means "before the first event". */
export type Position = number;

/**
 * What the appender believes about the stream before its append:
 * - `'any'`: no check;
 * - `'no_stream'`: the stream has no events yet;
 * - `'stream_exists'`: the stream has at least one event;
 * - a number `n`: the stream's last event has revision `n`.
 *
 * A mismatch fails the whole append with `EXPECTED_REVISION_CONFLICT` and appends nothing.
 */
export type ExpectedRevision = 'any' | 'no_stream' | 'stream_exists' | Revision;

/** An event to append. The store assigns its id, revision, position and `recorded_at`. */
export interface NewEvent {
  type: string;
  data: JsonObject;
  metadata?: NewEventMetadata;
}

export interface AppendOptions {
  /** Defaults to `'any'`. */
  expectedRevision?: ExpectedRevision;
}

/** The outcome of one append call. */
export interface AppendResult {
  stream: string;
  /** Revision of each event of the call, in order. */
  revisions: Revision[];
  /** Global position of each event of the call, in order. */
  positions: Position[];
  /** The stream's revision after the call: pass it as the next `expectedRevision`. */
  nextExpectedRevision: Revision;
  /**
   * True when every event of the call carried an idempotency key that the stream already held
   * for the same content: nothing was appended and the original revisions and positions are
   * returned.
   */
  duplicate: boolean;
}

export interface ReadStreamOptions {
  /** First revision to return (inclusive). Defaults to 0. */
  fromRevision?: Revision;
  /** At most this many events. Defaults to all. */
  limit?: number;
}

export interface ReadAllOptions {
  /** Return events strictly after this position (a checkpoint). Defaults to 0, the start. */
  after?: Position;
  /** At most this many events. Required so that nobody reads an unbounded log by accident. */
  limit: number;
}

export interface SubscribeOptions {
  /** Resume strictly after this position (the last one the subscriber processed). Defaults to 0. */
  after?: Position;
  /** Events fetched per catch-up read. */
  batchSize?: number;
  /** Ends the subscription: the iterator returns once it is aborted. */
  signal?: AbortSignal;
  /**
   * Called whenever the subscription has delivered everything committed so far (it is about to
   * wait for new events), with the last delivered position.
   */
  onCaughtUp?: (position: Position) => void;
}

/** Properties of an adapter that the contract suite and callers may rely on. */
export interface StoreCapabilities {
  /** Global positions are 1, 2, 3, ... with no holes, so a reader can prove it missed nothing. */
  densePositions: boolean;
  /** Largest accepted serialized event (data plus metadata), in bytes. */
  maxEventBytes: number;
}

/**
 * The EventStore port. Every adapter (PostgreSQL, PGlite, EventStoreDB, memory) passes the one
 * contract suite in test/contract.
 *
 * Guarantees:
 * - `append` is atomic per call: all of its events or none.
 * - Events of one stream have consecutive revisions from 0.
 * - `readAll` and `subscribe` return every committed event exactly once, in one global order, and
 *   never skip an event whose transaction commits late.
 * - Idempotency keys are unique per stream and enforced by the store: retrying an append whose
 *   events all carry keys the stream already holds (for the same type and data) appends nothing
 *   and returns the original revisions and positions with `duplicate: true`, whatever the
 *   expected revision says. Reusing a key for different content, or an append that mixes events
 *   the stream already holds with new ones, fails with `IDEMPOTENCY_KEY_REUSED`.
 *
 * @example
 * const r = await store.append('mission-m1', [{ type: 'mission.dispatched', data }], {
 *   expectedRevision: 'no_stream',
 * });
 * for await (const event of store.subscribe({ after: checkpoint, signal })) handle(event);
 */
export interface EventStore {
  readonly capabilities: StoreCapabilities;
  append(stream: string, events: NewEvent[], options?: AppendOptions): Promise<AppendResult>;
  /** The stream's events in revision order; an empty array when the stream does not exist. */
  readStream(stream: string, options?: ReadStreamOptions): Promise<StoredEvent[]>;
  /** A page of the global log in position order. */
  readAll(options: ReadAllOptions): Promise<StoredEvent[]>;
  /** The position of the last committed event (0 when the log is empty). */
  headPosition(): Promise<Position>;
  /** Catch up from `after`, then follow new events live, until the signal aborts. */
  subscribe(options?: SubscribeOptions): AsyncIterableIterator<StoredEvent>;
  /** Cheap liveness probe: resolves when the store answers, throws `STORE_UNAVAILABLE` otherwise. */
  ping(): Promise<void>;
  /** Waits for in-flight appends, then releases connections. Further calls fail with `STORE_CLOSED`. */
  close(): Promise<void>;
}
