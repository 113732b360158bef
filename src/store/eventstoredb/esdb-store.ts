import { setMaxListeners } from 'node:events';
import {
  BACKWARDS,
  END,
  EventStoreDBClient,
  FORWARDS,
  excludeSystemEvents,
  type AllStreamResolvedEvent,
  type AllStreamSubscription,
  type AppendExpectedRevision,
  type AppendResult as EsdbAppendResult,
  type Position as EsdbPosition,
  type ReadAllOptions as EsdbReadAllOptions,
  type ReadPosition,
  type ReadStreamOptions as EsdbReadStreamOptions,
} from '@eventstore/db-client';
import { LedgerError } from '../../errors.ts';
import {
  DEFAULT_MAX_EVENT_BYTES,
  NO_STREAM,
  assertStreamName,
  expectedRevisionHolds,
  resolveIdempotency,
  revisionConflict,
  type KeyedEvent,
  type PreparedEvent,
  checkAppend,
  duplicateAppend,
} from '../append-plan.ts';
import type {
  AppendOptions,
  AppendResult,
  EventStore,
  ExpectedRevision,
  NewEvent,
  Position,
  ReadAllOptions,
  ReadStreamOptions,
  Revision,
  StoreCapabilities,
  StoredEvent,
  SubscribeOptions,
} from '../port.ts';
import {
  comparePositions,
  isSystemEvent,
  pinnedRevision,
  positionOf,
  requireEsdbPosition,
  toEsdbExpectedRevision,
  toEventData,
  toReadPosition,
  toSafeNumber,
  toStoredEvent,
  type AnyResolvedEvent,
} from './map-event.ts';
import {
  actualRevisionOf,
  isStreamNotFound,
  isWrongExpectedVersion,
  translateEsdbError,
  type EsdbErrorContext,
} from './translate-error.ts';

/** The part of `EventStoreDBClient` the adapter uses (a real client satisfies it; tests fake it). */
export type EsdbClient = Pick<
  EventStoreDBClient,
  'appendToStream' | 'readStream' | 'readAll' | 'subscribeToAll' | 'dispose'
>;

/** Options of {@link EventStoreDbStore} and {@link openEventStoreDb}. */
export interface EventStoreDbStoreOptions {
  /** Largest accepted serialized event (data plus metadata). Defaults to 1 MiB. */
  maxEventBytes?: number;
}

/**
 * A keyed append re-reads and retries this many times when other writers keep moving the stream
 * between its read and its pinned write; past that the stream is too contended to promise anything.
 */
const MAX_PINNED_ATTEMPTS = 10;
/** Events per catch-up page of `subscribe` when the caller does not say. */
const DEFAULT_BATCH_SIZE = 256;
/** Records per backward page of `headPosition` (system records at the head are skipped). */
const HEAD_PAGE = 64;

/**
 * The EventStore port on EventStoreDB (`@eventstore/db-client` 6.x, server 22.6 or later, a user
 * allowed to read `$all`).
 *
 * Positions: the port's `Position` is an event's `$all` PREPARE position, the byte offset of its
 * record in the transaction log. It is unique per event and increases in `$all` order, but it is
 * not dense (`capabilities.densePositions` is false), so a position says nothing about how many
 * events precede it. The commit position is not used: for events written through gRPC it equals
 * the prepare position, and where it differs (legacy explicit transactions) it is shared by several
 * events and cannot tell them apart.
 *
 * Idempotency is strict, not ESDB's best-effort id check: an append with keys reads the stream,
 * resolves the keys with `resolveIdempotency`, then writes with the expected revision pinned to
 * the revision it read, re-reading when another writer got in between. Keyed appends therefore
 * cost a full read of their stream.
 *
 * Every driver error is translated by `translateEsdbError`; none leaves this class.
 *
 * @example
 * const store = await openEventStoreDb('esdb://admin:changeit@localhost:2113?tls=false');
 * await store.append('mission-m1', [{ type: 'mission.dispatched', data }], { expectedRevision: 'no_stream' });
 */
export class EventStoreDbStore implements EventStore {
  readonly capabilities: StoreCapabilities;
  private readonly client: EsdbClient;
  private readonly appending = new Set<Promise<unknown>>();
  /** Aborted by `close`: live subscriptions end with `STORE_CLOSED`. */
  private readonly closing = new AbortController();
  private closed: Promise<void> | undefined;
  /** Set once the client is being disposed: later driver errors are reported as `STORE_CLOSED`. */
  private disposing = false;

  constructor(client: EsdbClient, options: EventStoreDbStoreOptions = {}) {
    const maxEventBytes = options.maxEventBytes ?? DEFAULT_MAX_EVENT_BYTES;
    if (!Number.isSafeInteger(maxEventBytes) || maxEventBytes <= 0) {
      throw new LedgerError('CONFIGURATION_INVALID', 'maxEventBytes must be a positive integer.', {
        maxEventBytes,
      });
    }
    this.client = client;
    // Every live subscription listens to this signal; many concurrent ones are not a leak.
    setMaxListeners(0, this.closing.signal);
    this.capabilities = { densePositions: false, maxEventBytes };
  }

  /** Appends atomically; see the class comment for how keyed appends stay idempotent. */
  async append(
    stream: string,
    events: NewEvent[],
    options: AppendOptions = {},
  ): Promise<AppendResult> {
    this.assertOpen();
    const { expected, prepared } = checkAppend(
      stream,
      events,
      options,
      this.capabilities.maxEventBytes,
    );
    const keyed = prepared.some((event) => event.idempotencyKey !== undefined);
    return this.track(
      keyed
        ? this.appendKeyed(stream, prepared, expected)
        : this.appendUnkeyed(stream, prepared, expected),
    );
  }

  /** The stream's events from `fromRevision`, forwards; `[]` when the stream does not exist. */
  async readStream(stream: string, options: ReadStreamOptions = {}): Promise<StoredEvent[]> {
    this.assertOpen();
    assertStreamName(stream);
    const fromRevision = options.fromRevision ?? 0;
    assertCount('fromRevision', fromRevision);
    if (options.limit !== undefined) assertCount('limit', options.limit);
    if (options.limit === 0) return [];
    const read: EsdbReadStreamOptions = { fromRevision: BigInt(fromRevision), direction: FORWARDS };
    if (options.limit !== undefined) read.maxCount = options.limit;
    const events: StoredEvent[] = [];
    for await (const resolved of this.streamRecords(stream, read)) {
      events.push(toStoredEvent(resolved));
    }
    return events;
  }

  /**
   * Up to `limit` ledger events strictly after `after`, in `$all` order. `after` is 0 or a position
   * this store returned (ESDB cannot start a read in the middle of a log record).
   */
  async readAll(options: ReadAllOptions): Promise<StoredEvent[]> {
    this.assertOpen();
    const after = options.after ?? 0;
    assertCount('after', after);
    assertCount('limit', options.limit);
    return this.readAllAfter(after, options.limit);
  }

  /** The prepare position of the last ledger event in `$all`, 0 when there is none. */
  async headPosition(): Promise<Position> {
    this.assertOpen();
    let from: ReadPosition = END;
    let previous: EsdbPosition | undefined;
    for (;;) {
      let seen = 0;
      for await (const resolved of this.allRecords({
        fromPosition: from,
        direction: BACKWARDS,
        maxCount: HEAD_PAGE,
      })) {
        seen += 1;
        const position = requireEsdbPosition(resolved);
        // Backward reads exclude their start; the check only guards against a server that does not.
        if (previous !== undefined && comparePositions(position, previous) >= 0) continue;
        previous = position;
        if (resolved.event !== undefined && !isSystemEvent(resolved.event)) {
          return toSafeNumber(position.prepare, 'position');
        }
      }
      if (seen < HEAD_PAGE || previous === undefined) return 0;
      from = previous;
    }
  }

  /**
   * Catches up with paged `readAll` calls, reports `onCaughtUp`, then follows `$all` live with a
   * server-side filtered catch-up subscription until `signal` aborts or the consumer stops.
   * Throws `STORE_CLOSED` when the store closes under it and `STORE_UNAVAILABLE` when the
   * subscription fails; it does not reconnect by itself (resume from the last position).
   */
  subscribe(options: SubscribeOptions = {}): AsyncIterableIterator<StoredEvent> {
    this.assertOpen();
    const after = options.after ?? 0;
    assertCount('after', after);
    const batchSize = options.batchSize ?? DEFAULT_BATCH_SIZE;
    assertCount('batchSize', batchSize);
    if (batchSize === 0) {
      throw new LedgerError('INVALID_ARGUMENT', 'batchSize must be at least 1.', { batchSize });
    }
    return this.follow({
      after,
      batchSize,
      signal: options.signal,
      onCaughtUp: options.onCaughtUp,
    });
  }

  /** Reads the last record of `$all`: proves the server answers and this user may read the log. */
  async ping(): Promise<void> {
    this.assertOpen();
    try {
      for await (const _record of this.client.readAll({
        fromPosition: END,
        direction: BACKWARDS,
        maxCount: 1,
      })) {
        break;
      }
    } catch (error) {
      const translated = this.translate(error, { operation: 'ping' });
      if (translated.code === 'STORE_UNAVAILABLE' || translated.code === 'STORE_CLOSED') {
        throw translated;
      }
      throw new LedgerError('STORE_UNAVAILABLE', translated.message, translated.details, {
        cause: error,
      });
    }
  }

  /** Waits for in-flight appends, ends live subscriptions, then disposes the client. Idempotent. */
  close(): Promise<void> {
    this.closed ??= this.shutdown();
    return this.closed;
  }

  private async shutdown(): Promise<void> {
    this.closing.abort();
    await Promise.allSettled([...this.appending]);
    this.disposing = true;
    try {
      await this.client.dispose();
    } catch (error) {
      throw translateEsdbError(error, { operation: 'close' });
    }
  }

  private async appendUnkeyed(
    stream: string,
    prepared: PreparedEvent[],
    expected: ExpectedRevision,
  ): Promise<AppendResult> {
    const outcome = await this.write(stream, prepared, toEsdbExpectedRevision(expected), expected);
    if (outcome.kind === 'conflict') throw conflict(stream, expected, outcome.actual);
    return this.appended(stream, prepared, outcome);
  }

  /**
   * Read, resolve the keys, write pinned to the revision read. A pinned write fails only when the
   * stream moved since the read; the next round then sees why: a concurrent retry of this very
   * append (now a duplicate), a real conflict with the caller's expectation, or an unrelated
   * append under `'any'` / `'stream_exists'` (retried).
   */
  private async appendKeyed(
    stream: string,
    prepared: PreparedEvent[],
    expected: ExpectedRevision,
  ): Promise<AppendResult> {
    for (let attempt = 1; attempt <= MAX_PINNED_ATTEMPTS; attempt += 1) {
      const { current, existing } = await this.readKeys(stream, prepared);
      const idempotency = resolveIdempotency(stream, prepared, existing);
      if (idempotency.kind === 'duplicate') {
        return duplicateAppend(stream, idempotency, current);
      }
      if (!expectedRevisionHolds(expected, current)) {
        throw revisionConflict(stream, expected, current);
      }
      // ESDB answers a pinned write whose events (same ids) already follow the pin with success,
      // as an idempotent no-op: that is a concurrent identical retry winning the race, which
      // `appended` recognises by the other call's recorded_at.
      const outcome = await this.write(stream, prepared, pinnedRevision(current), expected);
      if (outcome.kind === 'written') {
        return this.appended(stream, prepared, outcome);
      }
    }
    throw new LedgerError(
      'STORE_UNAVAILABLE',
      `Stream ${stream} kept changing during ${MAX_PINNED_ATTEMPTS} attempts to append.`,
      {
        operation: 'append',
        stream,
        attempts: MAX_PINNED_ATTEMPTS,
        reason: 'contention',
        retryable: true,
      },
    );
  }

  /** The stream's current revision and its events that hold a key of this append. */
  private async readKeys(
    stream: string,
    prepared: PreparedEvent[],
  ): Promise<{ current: Revision; existing: Map<string, KeyedEvent> }> {
    const keys = new Set(prepared.map((event) => event.idempotencyKey));
    const existing = new Map<string, KeyedEvent>();
    let current: Revision = NO_STREAM;
    // From the leader: a follower lagging behind would hide a key and break the pinned write's premise.
    const read: EsdbReadStreamOptions = {
      fromRevision: 0n,
      direction: FORWARDS,
      requiresLeader: true,
    };
    for await (const resolved of this.streamRecords(stream, read)) {
      const event = toStoredEvent(resolved);
      current = event.revision;
      const key = event.metadata.idempotency_key;
      if (key !== undefined && keys.has(key)) {
        existing.set(key, {
          revision: event.revision,
          position: event.position,
          type: event.type,
          data: event.data,
        });
      }
    }
    return { current, existing };
  }

  /** One `appendToStream` call; a wrong expected version is an outcome here, not an error. */
  private async write(
    stream: string,
    prepared: PreparedEvent[],
    expectedRevision: AppendExpectedRevision,
    callerExpectation: ExpectedRevision,
  ): Promise<WriteOutcome> {
    const recordedAt = new Date().toISOString();
    const events = prepared.map((event) => toEventData(event, recordedAt));
    let result: EsdbAppendResult;
    try {
      result = await this.client.appendToStream(stream, events, { expectedRevision });
    } catch (error) {
      if (isWrongExpectedVersion(error)) {
        return { kind: 'conflict', actual: actualRevisionOf(error) };
      }
      throw this.translate(error, {
        operation: 'append',
        stream,
        expectedRevision: callerExpectation,
      });
    }
    // A client built with throwOnAppendFailure=false reports a conflict as an unsuccessful result.
    if (!result.success) {
      const actual =
        result.nextExpectedRevision < 0n
          ? NO_STREAM
          : toSafeNumber(result.nextExpectedRevision, 'revision');
      return { kind: 'conflict', actual };
    }
    return {
      kind: 'written',
      recordedAt,
      nextExpectedRevision: toSafeNumber(result.nextExpectedRevision, 'revision'),
    };
  }

  /**
   * The result of a successful write. Revisions are consecutive up to `nextExpectedRevision`.
   * ESDB answers an append with one position for the whole write, so each event's position is
   * read back (from the leader, which acknowledged the write). Events carrying another call's
   * `recorded_at` were written by a concurrent identical retry that ESDB deduplicated ours
   * against: the call is then a duplicate. (Two racing retries stamped in the same millisecond
   * cannot be told apart; both then report `duplicate: false`, for the one copy in the stream.)
   */
  private async appended(
    stream: string,
    prepared: PreparedEvent[],
    written: { nextExpectedRevision: Revision; recordedAt: string },
  ): Promise<AppendResult> {
    const { nextExpectedRevision } = written;
    const first = nextExpectedRevision - prepared.length + 1;
    const revisions = prepared.map((_event, index) => first + index);
    const read: EsdbReadStreamOptions = {
      fromRevision: BigInt(first),
      direction: FORWARDS,
      maxCount: prepared.length,
      requiresLeader: true,
    };
    const records: AnyResolvedEvent[] = [];
    for await (const resolved of this.streamRecords(stream, read)) records.push(resolved);
    const sameEvents =
      records.length === prepared.length &&
      prepared.every((event, i) => records[i]?.event?.id === event.id);
    if (!sameEvents) {
      throw new LedgerError(
        'STORE_UNAVAILABLE',
        `The append to ${stream} committed, but its events could not be read back for their positions.`,
        { operation: 'append', stream, committed: true, revisions, reason: 'read-back-mismatch' },
      );
    }
    return {
      stream,
      revisions,
      positions: records.map(positionOf),
      nextExpectedRevision,
      duplicate: records.some((record) => recordedAtOf(record) !== written.recordedAt),
    };
  }

  /**
   * Fills a page of ledger events after `after`, reading raw `$all` pages until enough survive the
   * filter or the log ends.
   *
   * Why resuming from `{ commit: p, prepare: p }` and dropping prepare positions <= p neither
   * skips nor repeats an event: every event written through gRPC is an implicitly committed
   * prepare record whose `$all` position is `{ commit: x, prepare: x }`, x its own log offset. A
   * forward read returns exactly the records whose position is >= its start, in log order. From
   * `{p, p}` that is the event at p itself, which the caller already has (dropped by the filter),
   * then every later event; every earlier event has x < p and is not returned. The same holds
   * between our own raw pages, resumed from the last record seen, and the only record read twice
   * is that boundary record (dropped by `previous`). Events of legacy explicit transactions (TCP
   * API only; never written by the ledger) would break this, since they share a commit position
   * above their prepare positions.
   */
  private async readAllAfter(after: Position, limit: number): Promise<StoredEvent[]> {
    const events: StoredEvent[] = [];
    const afterPrepare = BigInt(after);
    let from: ReadPosition = toReadPosition(after);
    let previous: EsdbPosition | undefined;
    while (events.length < limit) {
      // One more than needed: the inclusive start may hand back the boundary record.
      const maxCount = limit - events.length + 1;
      let seen = 0;
      for await (const resolved of this.allRecords({
        fromPosition: from,
        direction: FORWARDS,
        maxCount,
      })) {
        seen += 1;
        const position = requireEsdbPosition(resolved);
        if (previous !== undefined && comparePositions(position, previous) <= 0) continue;
        previous = position;
        if (resolved.event === undefined || isSystemEvent(resolved.event)) continue;
        if (position.prepare <= afterPrepare) continue;
        events.push(toStoredEvent(resolved));
        if (events.length === limit) break;
      }
      if (seen < maxCount || previous === undefined) break;
      from = previous;
    }
    return events;
  }

  private async *follow(options: FollowOptions): AsyncGenerator<StoredEvent, void, undefined> {
    const { batchSize, signal, onCaughtUp } = options;
    let last = options.after;
    // Paged reads first: a short page proves that everything committed before it was delivered,
    // which the subscription below can only say on servers that send "caught up" (23.10+).
    for (;;) {
      if (this.shouldStop(signal)) return;
      const page = await this.readAll({ after: last, limit: batchSize });
      for (const event of page) {
        if (this.shouldStop(signal)) return;
        yield event;
        last = event.position;
      }
      if (page.length < batchSize) break;
    }
    if (this.shouldStop(signal)) return;
    onCaughtUp?.(last);
    yield* this.followLive(last, signal, onCaughtUp);
  }

  /**
   * Follows `$all` live from `after`. The subscription is pulled through its async iterator, so a
   * slow consumer applies backpressure instead of buffering without bound. Events at or before the
   * last delivered position are dropped, so overlap with the catch-up never repeats an event.
   */
  private async *followLive(
    after: Position,
    signal: AbortSignal | undefined,
    onCaughtUp: ((position: Position) => void) | undefined,
  ): AsyncGenerator<StoredEvent, void, undefined> {
    let last = after;
    let reported = after;
    const subscription = this.client.subscribeToAll({
      fromPosition: toReadPosition(after),
      filter: excludeSystemEvents(),
    });
    const tracker = new CatchUpTracker();
    const interrupt = new Interrupt();
    const onServerCaughtUp = (): void => {
      tracker.serverCaughtUp(subscription.readableLength);
      interrupt.fire('wake');
    };
    const onServerFellBehind = (): void => tracker.serverFellBehind();
    const onStop = (): void => interrupt.fire('stop');
    subscription.on('caughtUp', onServerCaughtUp);
    subscription.on('fellBehind', onServerFellBehind);
    signal?.addEventListener('abort', onStop);
    this.closing.signal.addEventListener('abort', onStop);
    const records = subscription[Symbol.asyncIterator]();
    let pending: Promise<IteratorResult<AllStreamResolvedEvent>> | undefined;
    try {
      for (;;) {
        if (this.shouldStop(signal)) return;
        pending ??= records.next();
        const step = await this.nextStep(pending, interrupt);
        if (step === 'stop') {
          this.shouldStop(signal); // throws STORE_CLOSED when the store closed
          return;
        }
        if (step !== 'wake') {
          pending = undefined;
          if (step.done === true) {
            throw new LedgerError(
              'STORE_UNAVAILABLE',
              'The EventStoreDB subscription ended unexpectedly.',
              {
                operation: 'subscribe',
                position: last,
                retryable: true,
              },
            );
          }
          tracker.consumed();
          const event = liveEvent(step.value, last);
          if (event !== undefined) {
            if (this.shouldStop(signal)) return;
            yield event;
            last = event.position;
          }
        }
        if (last !== reported && tracker.isCaughtUp(isDrained(subscription))) {
          reported = last;
          onCaughtUp?.(last);
        }
      }
    } finally {
      signal?.removeEventListener('abort', onStop);
      this.closing.signal.removeEventListener('abort', onStop);
      subscription.off('caughtUp', onServerCaughtUp);
      subscription.off('fellBehind', onServerFellBehind);
      // The abandoned read settles when the subscription is destroyed; nobody awaits it any more.
      pending?.catch(() => undefined);
      release(subscription);
    }
  }

  /** The next record, or why the wait ended early; driver failures become LedgerErrors. */
  private async nextStep(
    pending: Promise<IteratorResult<AllStreamResolvedEvent>>,
    interrupt: Interrupt,
  ): Promise<IteratorResult<AllStreamResolvedEvent> | InterruptKind> {
    try {
      return await Promise.race([pending, interrupt.wait()]);
    } catch (error) {
      throw this.translate(error, { operation: 'subscribe' });
    }
  }

  /** True when the consumer aborted; throws `STORE_CLOSED` when the store was closed. */
  private shouldStop(signal: AbortSignal | undefined): boolean {
    if (this.closing.signal.aborted) throw closedError();
    return signal?.aborted === true;
  }

  /** Raw records of a stream; a missing stream yields nothing. */
  private async *streamRecords(
    stream: string,
    options: EsdbReadStreamOptions,
  ): AsyncGenerator<AnyResolvedEvent> {
    try {
      for await (const resolved of this.client.readStream(stream, options)) yield resolved;
    } catch (error) {
      if (isStreamNotFound(error)) return;
      throw this.translate(error, { operation: 'readStream', stream });
    }
  }

  /** Raw records of `$all`, system records included. */
  private async *allRecords(options: EsdbReadAllOptions): AsyncGenerator<AllStreamResolvedEvent> {
    try {
      for await (const resolved of this.client.readAll(options)) yield resolved;
    } catch (error) {
      throw this.translate(error, { operation: 'readAll' });
    }
  }

  private translate(error: unknown, context: EsdbErrorContext): LedgerError {
    // Once the client is disposed every call fails; the cause is the close, not the server.
    if (this.disposing && !(error instanceof LedgerError)) return closedError();
    return translateEsdbError(error, context);
  }

  private assertOpen(): void {
    if (this.closed !== undefined) throw closedError();
  }

  private track<T>(promise: Promise<T>): Promise<T> {
    this.appending.add(promise);
    const forget = (): void => {
      this.appending.delete(promise);
    };
    promise.then(forget, forget);
    return promise;
  }
}

/**
 * Connects to EventStoreDB with an `esdb://` or `esdb+discover://` connection string and pings it.
 * Throws `CONFIGURATION_INVALID` for a malformed string and `STORE_UNAVAILABLE` when the server
 * does not answer.
 *
 * @example
 * const store = await openEventStoreDb(process.env.LEDGER_ESDB_URL ?? 'esdb://localhost:2113?tls=false');
 */
export async function openEventStoreDb(
  url: string,
  options: EventStoreDbStoreOptions = {},
): Promise<EventStoreDbStore> {
  if (!/^esdb(\+discover)?:\/\//.test(url)) {
    throw new LedgerError(
      'CONFIGURATION_INVALID',
      'An EventStoreDB URL starts with esdb:// or esdb+discover://.',
      {
        url: redactUrl(url),
      },
    );
  }
  const client = connect(url);
  let store: EventStoreDbStore;
  try {
    store = new EventStoreDbStore(client, options);
  } catch (error) {
    await client.dispose().catch(() => undefined);
    throw error;
  }
  try {
    await store.ping();
  } catch (error) {
    await store.close().catch(() => undefined);
    throw error;
  }
  return store;
}

/**
 * Decides when a live subscription has handed over everything committed so far.
 *
 * The server's "caught up" message reaches the client's stream while records received before it
 * may still wait in the stream's buffer, so it only counts once that many more records have been
 * consumed. Between such messages the subscription is live, and it is caught up whenever the
 * client holds nothing unconsumed. "Fell behind" suspends that until the next "caught up".
 */
export class CatchUpTracker {
  private count = 0;
  private target: number | undefined;
  private live = true;

  /** One more record was taken from the subscription. */
  consumed(): void {
    this.count += 1;
  }

  /** The server said "caught up" while `buffered` records were still unconsumed. */
  serverCaughtUp(buffered: number): void {
    this.live = true;
    this.target = this.count + buffered;
  }

  /** The server said "fell behind": it is replaying history again. */
  serverFellBehind(): void {
    this.live = false;
    this.target = undefined;
  }

  /** Whether everything known to be committed has been consumed; `drained`: nothing is buffered. */
  isCaughtUp(drained: boolean): boolean {
    if (this.target !== undefined && this.count >= this.target) {
      this.target = undefined;
      return true;
    }
    return this.live && drained;
  }
}

type InterruptKind = 'stop' | 'wake';

/**
 * A one-shot promise renewed after each use, so waiting in a loop does not pile reactions onto a
 * long-lived promise (the classic `Promise.race` leak). `stop` is sticky.
 */
class Interrupt {
  private promise: Promise<InterruptKind> | undefined;
  private resolve: ((kind: InterruptKind) => void) | undefined;
  private stopped = false;

  wait(): Promise<InterruptKind> {
    if (this.stopped) return Promise.resolve('stop');
    this.promise ??= new Promise((resolve) => {
      this.resolve = resolve;
    });
    return this.promise;
  }

  fire(kind: InterruptKind): void {
    if (kind === 'stop') this.stopped = true;
    this.resolve?.(kind);
    this.promise = undefined;
    this.resolve = undefined;
  }
}

type WriteOutcome =
  | { kind: 'written'; nextExpectedRevision: Revision; recordedAt: string }
  | { kind: 'conflict'; actual: Revision | undefined };

interface FollowOptions {
  after: Position;
  batchSize: number;
  signal: AbortSignal | undefined;
  onCaughtUp: ((position: Position) => void) | undefined;
}

/** A live record as a ledger event, or undefined when it is a system record or already delivered. */
function liveEvent(resolved: AllStreamResolvedEvent, last: Position): StoredEvent | undefined {
  if (resolved.event === undefined || isSystemEvent(resolved.event)) return undefined;
  if (positionOf(resolved) <= last) return undefined;
  return toStoredEvent(resolved);
}

function recordedAtOf(resolved: AnyResolvedEvent): unknown {
  const metadata = resolved.event?.metadata;
  return typeof metadata === 'object' && metadata !== null && !(metadata instanceof Uint8Array)
    ? (metadata as Record<string, unknown>).recorded_at
    : undefined;
}

function isDrained(subscription: AllStreamSubscription): boolean {
  // The client's subscription is a Transform; records not yet transformed wait on its writable side.
  const writable = field(subscription, 'writableLength');
  return subscription.readableLength === 0 && (typeof writable !== 'number' || writable === 0);
}

/** Ends a subscription without waiting: unsubscribe cancels the gRPC call, destroy frees the stream. */
function release(subscription: AllStreamSubscription): void {
  subscription.unsubscribe().catch(() => undefined);
  subscription.destroy();
}

function conflict(
  stream: string,
  expected: ExpectedRevision,
  actual: Revision | undefined,
): LedgerError {
  if (actual !== undefined) return revisionConflict(stream, expected, actual);
  return new LedgerError('EXPECTED_REVISION_CONFLICT', undefined, {
    stream,
    expected,
    actual: 'unknown',
  });
}

function closedError(): LedgerError {
  return new LedgerError('STORE_CLOSED');
}

function assertCount(name: string, value: unknown): asserts value is number {
  if (typeof value !== 'number' || !Number.isSafeInteger(value) || value < 0) {
    throw new LedgerError('INVALID_ARGUMENT', `${name} must be an integer >= 0.`, {
      [name]: value,
    });
  }
}

function connect(url: string): EventStoreDBClient {
  try {
    return EventStoreDBClient.connectionString(url);
  } catch (error) {
    // The parser's message quotes part of the string, which may hold a password: keep only where and what.
    const location = field(error, 'location');
    const expected = field(error, 'expected');
    throw new LedgerError(
      'CONFIGURATION_INVALID',
      'The EventStoreDB connection string is invalid.',
      {
        url: redactUrl(url),
        position: Array.isArray(location) ? (location[0] as unknown) : undefined,
        expected: typeof expected === 'string' ? expected : undefined,
      },
    );
  }
}

/** The URL without its `user:password@` part, for error details and logs. */
export function redactUrl(url: string): string {
  return url.replace(/^([a-z+]+:\/\/)[^@/]*@/i, '$1***@');
}

function field(value: unknown, name: string): unknown {
  return typeof value === 'object' && value !== null
    ? (value as Record<string, unknown>)[name]
    : undefined;
}
