import { PassThrough } from 'node:stream';
import {
  CancelledError,
  DeadlineExceededError,
  InvalidArgumentError,
  MaxAppendSizeExceededError,
  StreamNotFoundError,
  TimeoutError,
  UnavailableError,
  WrongExpectedVersionError,
  type AllStreamResolvedEvent,
  type AppendExpectedRevision,
  type AppendResult as EsdbAppendResult,
  type AppendToStreamOptions,
  type ReadAllOptions as EsdbReadAllOptions,
  type ReadStreamOptions as EsdbReadStreamOptions,
  type EventData,
  type Position as EsdbPosition,
  type ReadPosition,
} from '@eventstore/db-client';
import { describe, expect, it } from 'vitest';
import { LedgerError, isLedgerError } from '../../src/errors.ts';
import { eventIdFor, type PreparedEvent } from '../../src/store/append-plan.ts';
import type { AppendResult, StoredEvent } from '../../src/store/port.ts';
import {
  CatchUpTracker,
  EventStoreDbStore,
  openEventStoreDb,
  redactUrl,
  type EsdbClient,
} from '../../src/store/eventstoredb/esdb-store.ts';
import {
  comparePositions,
  fromCurrentRevision,
  fromEsdbExpectedRevision,
  isSystemEvent,
  pinnedRevision,
  positionOf,
  toEsdbExpectedRevision,
  toEventData,
  toReadPosition,
  toSafeNumber,
  toStoredEvent,
  type AnyResolvedEvent,
} from '../../src/store/eventstoredb/map-event.ts';
import {
  actualRevisionOf,
  isStreamNotFound,
  isWrongExpectedVersion,
  translateEsdbError,
} from '../../src/store/eventstoredb/translate-error.ts';

/*
 * EventStoreDB cannot run here, so these tests pin the adapter's server-independent behaviour:
 * the mapping and error translation functions, and the store's own logic (idempotency, retries,
 * paging, filtering, caught-up tracking) against an in-memory fake of the client that follows the
 * server semantics the adapter relies on (see FakeEsdb). The live behaviour is covered by the
 * contract suite when LEDGER_TEST_ESDB_URL is set.
 */

const RECORDED_AT = '2025-01-02T03:04:05.678Z';
const EVENT_ID = '0b6c3f0e-8f3a-4a7e-9a52-2f1d3c4b5a69';

function recorded(overrides: Partial<FakeRecord> = {}): AllStreamResolvedEvent {
  return { event: { ...fakeRecord(), ...overrides } };
}

function fakeRecord(): FakeRecord {
  return {
    streamId: 'mission-m1',
    id: EVENT_ID,
    isJson: true,
    revision: 3n,
    type: 'mission.dispatched',
    created: new Date(0),
    data: { mission_id: 'm1', budget: 10 },
    metadata: { recorded_at: RECORDED_AT, actor: 'operator:alice' },
    position: { commit: 4096n, prepare: 4096n },
  };
}

function ledgerErrorOf(run: () => unknown): LedgerError {
  try {
    run();
  } catch (error) {
    if (error instanceof LedgerError) return error;
    throw error;
  }
  throw new Error('expected a LedgerError');
}

async function rejectionOf(promise: Promise<unknown>): Promise<LedgerError> {
  try {
    await promise;
  } catch (error) {
    if (error instanceof LedgerError) return error;
    throw error;
  }
  throw new Error('expected a LedgerError');
}

describe('expected revisions and positions', () => {
  it('maps the port expectation to the client constants', () => {
    expect(toEsdbExpectedRevision('any')).toBe('any');
    expect(toEsdbExpectedRevision('no_stream')).toBe('no_stream');
    expect(toEsdbExpectedRevision('stream_exists')).toBe('stream_exists');
    expect(toEsdbExpectedRevision(0)).toBe(0n);
    expect(toEsdbExpectedRevision(41)).toBe(41n);
  });

  it('pins an exact revision, no_stream for an absent stream', () => {
    expect(pinnedRevision(-1)).toBe('no_stream');
    expect(pinnedRevision(0)).toBe(0n);
    expect(pinnedRevision(12)).toBe(12n);
  });

  it('maps the client revisions back to the port', () => {
    expect(fromCurrentRevision('no_stream')).toBe(-1);
    expect(fromCurrentRevision(7n)).toBe(7);
    expect(fromEsdbExpectedRevision(5n)).toBe(5);
    expect(fromEsdbExpectedRevision('stream_exists')).toBe('stream_exists');
  });

  it('resumes $all from the start or from {p, p}', () => {
    expect(toReadPosition(0)).toBe('start');
    expect(toReadPosition(4096)).toEqual({ commit: 4096n, prepare: 4096n });
  });

  it('orders positions by commit, then prepare', () => {
    const sorted = [
      { commit: 20n, prepare: 5n },
      { commit: 10n, prepare: 10n },
      { commit: 20n, prepare: 3n },
    ].sort(comparePositions);
    expect(sorted).toEqual([
      { commit: 10n, prepare: 10n },
      { commit: 20n, prepare: 3n },
      { commit: 20n, prepare: 5n },
    ]);
    expect(comparePositions({ commit: 1n, prepare: 1n }, { commit: 1n, prepare: 1n })).toBe(0);
  });

  it('uses the prepare position, falling back to the commit position', () => {
    expect(positionOf(recorded({ position: { commit: 900n, prepare: 800n } }))).toBe(800);
    const oldServer: AnyResolvedEvent = {
      event: { ...fakeRecord(), position: undefined },
      commitPosition: 700n,
    };
    expect(positionOf(oldServer)).toBe(700);
    const none: AnyResolvedEvent = { event: { ...fakeRecord(), position: undefined } };
    expect(ledgerErrorOf(() => positionOf(none)).code).toBe('STORE_UNAVAILABLE');
  });

  it('refuses integers JavaScript cannot hold exactly', () => {
    expect(toSafeNumber(9_007_199_254_740_991n, 'position')).toBe(Number.MAX_SAFE_INTEGER);
    const error = ledgerErrorOf(() => toSafeNumber(9_007_199_254_740_993n, 'position'));
    expect(error.code).toBe('STORE_UNAVAILABLE');
    expect(error.details.position).toBe('9007199254740993');
  });
});

describe('system records', () => {
  it('recognises system streams and system event types', () => {
    expect(isSystemEvent({ streamId: '$stats-127.0.0.1:2113', type: '$statsCollected' })).toBe(
      true,
    );
    expect(isSystemEvent({ streamId: '$$mission-m1', type: '$metadata' })).toBe(true);
    expect(isSystemEvent({ streamId: 'mission-m1', type: '$>' })).toBe(true);
    expect(isSystemEvent({ streamId: 'mission-m1', type: 'mission.accepted' })).toBe(false);
  });
});

describe('toStoredEvent', () => {
  it('maps a recorded JSON event to the stored-event envelope', () => {
    expect(toStoredEvent(recorded())).toEqual({
      id: EVENT_ID,
      stream: 'mission-m1',
      revision: 3,
      position: 4096,
      type: 'mission.dispatched',
      data: { mission_id: 'm1', budget: 10 },
      metadata: { recorded_at: RECORDED_AT, actor: 'operator:alice' },
    } satisfies StoredEvent);
  });

  it('rejects records that are not ledger events', () => {
    const binary: AnyResolvedEvent = {
      event: { ...fakeRecord(), isJson: false, data: new Uint8Array([1]), metadata: undefined },
    };
    expect(ledgerErrorOf(() => toStoredEvent(binary)).code).toBe('STORE_UNAVAILABLE');
    const noRecordedAt = recorded({ metadata: { actor: 'operator:alice' } });
    const error = ledgerErrorOf(() => toStoredEvent(noRecordedAt));
    expect(error.code).toBe('STORE_UNAVAILABLE');
    expect(String(error.details.issues)).toContain('recorded_at');
    expect(ledgerErrorOf(() => toStoredEvent({})).code).toBe('STORE_UNAVAILABLE');
    const arrayData = recorded({ data: [1, 2] });
    expect(ledgerErrorOf(() => toStoredEvent(arrayData)).code).toBe('STORE_UNAVAILABLE');
  });
});

describe('toEventData', () => {
  const prepared: PreparedEvent = {
    id: eventIdFor('mission-m1', 'k1'),
    type: 'mission.dispatched',
    data: { mission_id: 'm1' },
    dataJson: '{"mission_id":"m1"}',
    metadata: { idempotency_key: 'k1', actor: 'operator:alice' },
    metadataJson: '{"idempotency_key":"k1","actor":"operator:alice"}',
    idempotencyKey: 'k1',
  };

  it('writes JSON with the deterministic id and the stamped recorded_at', () => {
    expect(toEventData(prepared, RECORDED_AT)).toEqual({
      id: eventIdFor('mission-m1', 'k1'),
      contentType: 'application/json',
      type: 'mission.dispatched',
      data: { mission_id: 'm1' },
      metadata: { idempotency_key: 'k1', actor: 'operator:alice', recorded_at: RECORDED_AT },
    });
    expect(prepared.metadata).not.toHaveProperty('recorded_at');
  });
});

describe('translateEsdbError', () => {
  it('turns a wrong expected version into EXPECTED_REVISION_CONFLICT', () => {
    const error = new WrongExpectedVersionError(undefined, {
      streamName: 'mission-m1',
      expected: 3n,
      current: 5n,
    });
    const translated = translateEsdbError(error, { operation: 'append', stream: 'mission-m1' });
    expect(translated).toBeInstanceOf(LedgerError);
    expect(translated).not.toBeInstanceOf(WrongExpectedVersionError);
    expect(translated.code).toBe('EXPECTED_REVISION_CONFLICT');
    expect(translated.details).toEqual({ stream: 'mission-m1', expected: 3, actual: 5 });
  });

  it("reports the caller's expectation and an absent stream", () => {
    const error = new WrongExpectedVersionError(undefined, {
      streamName: 'mission-m1',
      expected: 'stream_exists',
      current: 'no_stream',
    });
    const translated = translateEsdbError(error, {
      operation: 'append',
      expectedRevision: 'stream_exists',
    });
    expect(translated.details).toEqual({
      stream: 'mission-m1',
      expected: 'stream_exists',
      actual: 'no_stream',
    });
    expect(isWrongExpectedVersion(error)).toBe(true);
    expect(actualRevisionOf(error)).toBe(-1);
  });

  it('maps unavailable, deadline, cancelled and timeout errors to a retryable STORE_UNAVAILABLE', () => {
    for (const error of [
      new UnavailableError(),
      new DeadlineExceededError(),
      new CancelledError(),
      new TimeoutError(),
      { type: 'unavailable', message: '14 UNAVAILABLE: No connection established' },
    ]) {
      const translated = translateEsdbError(error, { operation: 'readAll' });
      expect(translated.code).toBe('STORE_UNAVAILABLE');
      expect(translated.details.retryable).toBe(true);
      expect(translated.details.operation).toBe('readAll');
    }
  });

  it('recognises connection failures outside the client error classes', () => {
    const refused = Object.assign(new Error('connect ECONNREFUSED 127.0.0.1:2113'), {
      code: 'ECONNREFUSED',
    });
    const grpcUnavailable = Object.assign(new Error('14 UNAVAILABLE'), { code: 14 });
    const discovery = new Error('Failed to discover after 10 attempts.');
    for (const error of [refused, grpcUnavailable, discovery]) {
      const translated = translateEsdbError(error, { operation: 'ping' });
      expect(translated.code).toBe('STORE_UNAVAILABLE');
      expect(translated.details.retryable).toBe(true);
    }
  });

  it('maps the server append size limit to EVENT_TOO_LARGE', () => {
    const translated = translateEsdbError(MaxAppendSizeExceededError.fromMaxAppendSize(1024), {
      operation: 'append',
      stream: 'mission-m1',
    });
    expect(translated.code).toBe('EVENT_TOO_LARGE');
    expect(translated.details).toMatchObject({ stream: 'mission-m1', limit: 1024 });
  });

  it("maps the client's argument validation to INVALID_ARGUMENT", () => {
    const translated = translateEsdbError(new InvalidArgumentError('bad uuid'), {
      operation: 'append',
    });
    expect(translated.code).toBe('INVALID_ARGUMENT');
    expect(translated.details.message).toBe('bad uuid');
  });

  it('wraps anything else in STORE_UNAVAILABLE with the original as cause', () => {
    const boom = new Error('boom');
    const translated = translateEsdbError(boom, { operation: 'readStream', stream: 's' });
    expect(translated.code).toBe('STORE_UNAVAILABLE');
    expect(translated.cause).toBe(boom);
    expect(translated.details).toMatchObject({
      operation: 'readStream',
      stream: 's',
      message: 'boom',
      retryable: false,
    });
    expect(translateEsdbError('odd', { operation: 'x' }).details.message).toBe('odd');
  });

  it('passes LedgerErrors through unchanged', () => {
    const original = new LedgerError('STORE_CLOSED');
    expect(translateEsdbError(original, { operation: 'append' })).toBe(original);
  });

  it('recognises a missing stream', () => {
    expect(isStreamNotFound(new StreamNotFoundError(undefined, 'mission-m1'))).toBe(true);
    expect(isStreamNotFound(new UnavailableError())).toBe(false);
  });
});

describe('CatchUpTracker', () => {
  it('counts a "caught up" only after the records buffered before it are consumed', () => {
    const tracker = new CatchUpTracker();
    tracker.serverFellBehind();
    expect(tracker.isCaughtUp(true)).toBe(false);
    tracker.serverCaughtUp(2);
    expect(tracker.isCaughtUp(false)).toBe(false);
    tracker.consumed();
    expect(tracker.isCaughtUp(false)).toBe(false);
    tracker.consumed();
    expect(tracker.isCaughtUp(false)).toBe(true);
    // Live again: caught up whenever nothing is buffered.
    expect(tracker.isCaughtUp(false)).toBe(false);
    expect(tracker.isCaughtUp(true)).toBe(true);
  });
});

describe('redactUrl', () => {
  it('hides credentials', () => {
    expect(redactUrl('esdb://admin:changeit@db:2113?tls=false')).toBe(
      'esdb://***@db:2113?tls=false',
    );
    expect(redactUrl('esdb+discover://db:2113')).toBe('esdb+discover://db:2113');
  });
});

describe('openEventStoreDb', () => {
  it('rejects URLs that are not EventStoreDB connection strings', async () => {
    const error = await rejectionOf(openEventStoreDb('postgres://localhost/ledger'));
    expect(error.code).toBe('CONFIGURATION_INVALID');
  });

  it('reports a malformed connection string without its password', async () => {
    const error = await rejectionOf(openEventStoreDb('esdb://admin:s3cret@db:notaport'));
    expect(error.code).toBe('CONFIGURATION_INVALID');
    expect(JSON.stringify(error.details)).not.toContain('s3cret');
    expect(error.message).not.toContain('s3cret');
  });
});

// ---------------------------------------------------------------------------------------------
// The store against a fake client.

type FakeRecord = Extract<NonNullable<AllStreamResolvedEvent['event']>, { isJson: true }>;

/**
 * An in-memory stand-in for the server, following the semantics the adapter relies on: every
 * event gets `{ commit: x, prepare: x }` with x increasing but not dense; forward `$all` reads
 * include their start position, backward reads exclude it; appends check the expected revision
 * and throw WrongExpectedVersionError; reading a missing stream throws StreamNotFoundError.
 */
class FakeEsdb {
  readonly log: FakeRecord[] = [];
  readonly subscriptions: FakeSubscription[] = [];
  appendCalls = 0;
  disposed = 0;
  /** Runs before each append is applied: lets a test slip in a concurrent writer. */
  beforeAppend: (call: number) => void | Promise<void> = () => undefined;
  private nextPosition = 1000n;

  readonly client: EsdbClient = {
    appendToStream: (
      stream: string,
      events: EventData | EventData[],
      options?: AppendToStreamOptions,
    ) =>
      this.appendToStream(
        stream,
        Array.isArray(events) ? events : [events],
        options?.expectedRevision,
      ),
    readStream: (stream: string, options?: EsdbReadStreamOptions) =>
      toStreamingRead(this.readStreamRecords(stream, options?.fromRevision, options?.maxCount)),
    readAll: (options?: EsdbReadAllOptions) =>
      toStreamingRead(
        this.readAllRecords(options?.fromPosition, options?.direction, options?.maxCount),
      ),
    subscribeToAll: () => this.subscribe(),
    dispose: () => {
      this.disposed += 1;
      return Promise.resolve();
    },
  } as unknown as EsdbClient;

  /** Appends directly, as another writer would. */
  write(stream: string, type: string, metadata: Record<string, unknown> = {}): FakeRecord {
    const revision = BigInt(this.revisionOf(stream) + 1);
    const record = this.record(stream, revision, {
      id: crypto.randomUUID(),
      type,
      data: { n: this.log.length },
      metadata: { recorded_at: RECORDED_AT, ...metadata },
    });
    return record;
  }

  private async appendToStream(
    stream: string,
    events: EventData[],
    expected: AppendExpectedRevision = 'any',
  ): Promise<EsdbAppendResult> {
    this.appendCalls += 1;
    await this.beforeAppend(this.appendCalls);
    const current = this.revisionOf(stream);
    const holds =
      expected === 'any' ||
      (expected === 'no_stream' && current === -1) ||
      (expected === 'stream_exists' && current !== -1) ||
      (typeof expected === 'bigint' && BigInt(current) === expected);
    const idempotent = this.idempotentAt(stream, expected, events);
    if (idempotent !== undefined) {
      return {
        success: true,
        nextExpectedRevision: idempotent.revision,
        position: idempotent.position,
      };
    }
    if (!holds) {
      throw new WrongExpectedVersionError(undefined, {
        streamName: stream,
        expected,
        current: current === -1 ? 'no_stream' : BigInt(current),
      });
    }
    let last: FakeRecord | undefined;
    for (const [index, event] of events.entries()) {
      last = this.record(stream, BigInt(current + 1 + index), {
        id: event.id,
        type: event.type,
        data: JSON.parse(JSON.stringify(event.data)) as Record<string, unknown>,
        metadata: JSON.parse(JSON.stringify(event.metadata)) as Record<string, unknown>,
      });
    }
    return {
      success: true,
      nextExpectedRevision: last?.revision ?? BigInt(current),
      position: last?.position,
    };
  }

  /**
   * The server's own idempotency for an exact expectation below the current revision: when the
   * events right after it carry the same ids, the write succeeds without appending anything.
   */
  private idempotentAt(
    stream: string,
    expected: AppendExpectedRevision,
    events: EventData[],
  ): FakeRecord | undefined {
    if (expected === 'any' || expected === 'stream_exists') return undefined;
    const from = expected === 'no_stream' ? 0n : expected + 1n;
    const following = this.log.filter(
      (record) => record.streamId === stream && record.revision >= from,
    );
    if (following.length === 0) return undefined;
    const same = events.every((event, i) => following[i]?.id === event.id);
    return same ? following[events.length - 1] : undefined;
  }

  private record(
    streamId: string,
    revision: bigint,
    event: Pick<FakeRecord, 'id' | 'type' | 'data' | 'metadata'>,
  ): FakeRecord {
    this.nextPosition += 37n + BigInt(this.log.length % 5);
    const record = {
      ...event,
      streamId,
      revision,
      isJson: true as const,
      created: new Date(0),
      position: { commit: this.nextPosition, prepare: this.nextPosition },
    } as FakeRecord;
    this.log.push(record);
    return record;
  }

  private revisionOf(stream: string): number {
    const events = this.log.filter((record) => record.streamId === stream);
    return events.length === 0 ? -1 : Number(events[events.length - 1]?.revision);
  }

  private *readStreamRecords(
    stream: string,
    from: bigint | 'start' | 'end' = 'start',
    maxCount: number | bigint = Number.MAX_SAFE_INTEGER,
  ): Generator<AllStreamResolvedEvent> {
    const events = this.log.filter((record) => record.streamId === stream);
    if (events.length === 0) throw new StreamNotFoundError(undefined, stream);
    const start = from === 'start' ? 0n : from === 'end' ? BigInt(events.length) : from;
    yield* events
      .filter((record) => record.revision >= start)
      .slice(0, Number(maxCount))
      .map((event) => ({ event }));
  }

  private *readAllRecords(
    from: ReadPosition = 'start',
    direction: 'forwards' | 'backwards' = 'forwards',
    maxCount: number | bigint = Number.MAX_SAFE_INTEGER,
  ): Generator<AllStreamResolvedEvent> {
    const inRange = (position: EsdbPosition): boolean => {
      if (from === 'start') return direction === 'forwards';
      if (from === 'end') return direction === 'backwards';
      const order = comparePositions(position, from);
      return direction === 'forwards' ? order >= 0 : order < 0;
    };
    const records = this.log.filter((record) => record.position && inRange(record.position));
    if (direction === 'backwards') records.reverse();
    yield* records.slice(0, Number(maxCount)).map((event) => ({ event }));
  }

  private subscribe(): FakeSubscription {
    const subscription = Object.assign(new PassThrough({ objectMode: true }), {
      unsubscribed: false,
      unsubscribe(this: { unsubscribed: boolean }): Promise<void> {
        this.unsubscribed = true;
        return Promise.resolve();
      },
    });
    this.subscriptions.push(subscription);
    return subscription;
  }
}

type FakeSubscription = PassThrough & { unsubscribed: boolean; unsubscribe(): Promise<void> };

/** The client's reads are object streams with `cancel`; the adapter only iterates them. */
function toStreamingRead<T>(records: Iterable<T>): AsyncIterable<T> & { cancel(): Promise<void> } {
  return {
    async *[Symbol.asyncIterator]() {
      await Promise.resolve();
      yield* records;
    },
    cancel: () => Promise.resolve(),
  };
}

function storeOn(fake: FakeEsdb): EventStoreDbStore {
  return new EventStoreDbStore(fake.client);
}

const dispatched = (key?: string) => ({
  type: 'mission.dispatched',
  data: { mission_id: 'm1' },
  metadata: key === undefined ? { actor: 'operator:alice' } : { idempotency_key: key },
});

describe('EventStoreDbStore.append (fake client)', () => {
  it('appends, stamps recorded_at and returns revisions and per-event positions', async () => {
    const fake = new FakeEsdb();
    const store = storeOn(fake);
    const result = await store.append('mission-m1', [dispatched(), dispatched()], {
      expectedRevision: 'no_stream',
    });
    const [first, second] = fake.log;
    expect(result).toEqual({
      stream: 'mission-m1',
      revisions: [0, 1],
      positions: [Number(first?.position?.prepare), Number(second?.position?.prepare)],
      nextExpectedRevision: 1,
      duplicate: false,
    });
    const events = await store.readStream('mission-m1');
    expect(events.map((event) => event.revision)).toEqual([0, 1]);
    expect(events[0]?.metadata).toMatchObject({ actor: 'operator:alice' });
    expect(Date.parse(events[0]?.metadata.recorded_at ?? '')).not.toBeNaN();
  });

  it('fails a wrong expectation with EXPECTED_REVISION_CONFLICT', async () => {
    const fake = new FakeEsdb();
    fake.write('mission-m1', 'mission.dispatched');
    const error = await rejectionOf(
      storeOn(fake).append('mission-m1', [dispatched()], { expectedRevision: 'no_stream' }),
    );
    expect(error.code).toBe('EXPECTED_REVISION_CONFLICT');
    expect(error.details).toEqual({ stream: 'mission-m1', expected: 'no_stream', actual: 0 });
  });

  it('returns the original events for a keyed retry, whatever the expectation says', async () => {
    const fake = new FakeEsdb();
    const store = storeOn(fake);
    const original = await store.append('mission-m1', [dispatched('k1'), dispatched('k2')]);
    const retry = await store.append('mission-m1', [dispatched('k1'), dispatched('k2')], {
      expectedRevision: 'no_stream',
    });
    expect(retry).toEqual({ ...original, duplicate: true });
    expect(fake.log).toHaveLength(2);
  });

  it('rejects a key reused for different content', async () => {
    const fake = new FakeEsdb();
    const store = storeOn(fake);
    await store.append('mission-m1', [dispatched('k1')]);
    const changed = { ...dispatched('k1'), data: { mission_id: 'other' } };
    const error = await rejectionOf(store.append('mission-m1', [changed]));
    expect(error.code).toBe('IDEMPOTENCY_KEY_REUSED');
    expect(fake.log).toHaveLength(1);
  });

  it('re-reads and retries when another writer slips in under "any"', async () => {
    const fake = new FakeEsdb();
    fake.beforeAppend = (call) => {
      if (call === 1) fake.write('mission-m1', 'mission.noted');
    };
    const result = await storeOn(fake).append('mission-m1', [dispatched('k1')]);
    expect(result.revisions).toEqual([1]);
    expect(result.duplicate).toBe(false);
    expect(fake.log.map((record) => record.type)).toEqual(['mission.noted', 'mission.dispatched']);
  });

  it('sees a concurrent identical retry that ESDB deduplicated as a duplicate', async () => {
    const fake = new FakeEsdb();
    const store = storeOn(fake);
    let twin: Promise<AppendResult> | undefined;
    fake.beforeAppend = async (call) => {
      if (call === 1) {
        // The twin reads the same empty stream, stamps a later millisecond and wins the race.
        await new Promise((resolve) => setTimeout(resolve, 5));
        twin = store.append('mission-m1', [dispatched('k1'), dispatched('k2')]);
        await twin;
      }
    };
    const result = await store.append('mission-m1', [dispatched('k1'), dispatched('k2')]);
    const original = await twin;
    expect(original?.duplicate).toBe(false);
    expect(result).toEqual({ ...original, duplicate: true });
    expect(fake.log).toHaveLength(2);
  });

  it('reports a real conflict when a keyed append pinned to a revision loses the race', async () => {
    const fake = new FakeEsdb();
    fake.beforeAppend = (call) => {
      if (call === 1) fake.write('mission-m1', 'mission.noted');
    };
    const error = await rejectionOf(
      storeOn(fake).append('mission-m1', [dispatched('k1')], { expectedRevision: 'no_stream' }),
    );
    expect(error.code).toBe('EXPECTED_REVISION_CONFLICT');
    expect(error.details).toMatchObject({ expected: 'no_stream', actual: 0 });
  });

  it('gives up with STORE_UNAVAILABLE when the stream never stops moving', async () => {
    const fake = new FakeEsdb();
    fake.beforeAppend = () => {
      fake.write('mission-m1', 'mission.noted');
    };
    const error = await rejectionOf(storeOn(fake).append('mission-m1', [dispatched('k1')]));
    expect(error.code).toBe('STORE_UNAVAILABLE');
    expect(error.details).toMatchObject({ reason: 'contention', attempts: 10 });
  });
});

describe('EventStoreDbStore reads (fake client)', () => {
  it('returns [] for a missing stream and honours fromRevision and limit', async () => {
    const fake = new FakeEsdb();
    const store = storeOn(fake);
    expect(await store.readStream('mission-none')).toEqual([]);
    for (let i = 0; i < 4; i += 1) fake.write('mission-m1', 'mission.noted');
    const page = await store.readStream('mission-m1', { fromRevision: 1, limit: 2 });
    expect(page.map((event) => event.revision)).toEqual([1, 2]);
  });

  it('pages $all strictly after a position, skipping system records', async () => {
    const fake = new FakeEsdb();
    const store = storeOn(fake);
    fake.write('$stats-node', '$statsCollected');
    const a = fake.write('mission-a', 'mission.noted');
    fake.write('$$mission-a', '$metadata');
    fake.write('$stats-node', '$statsCollected');
    const b = fake.write('mission-b', 'mission.noted');
    const c = fake.write('mission-a', 'mission.noted');
    fake.write('$stats-node', '$statsCollected');

    const ids = (events: StoredEvent[]) => events.map((event) => event.id);
    expect(ids(await store.readAll({ limit: 10 }))).toEqual([a.id, b.id, c.id]);
    expect(ids(await store.readAll({ limit: 1 }))).toEqual([a.id]);
    const afterA = Number(a.position?.prepare);
    expect(ids(await store.readAll({ after: afterA, limit: 1 }))).toEqual([b.id]);
    expect(ids(await store.readAll({ after: afterA, limit: 5 }))).toEqual([b.id, c.id]);
    expect(await store.readAll({ after: Number(c.position?.prepare), limit: 5 })).toEqual([]);
    expect(await store.readAll({ limit: 0 })).toEqual([]);
  });

  it('finds the head position below trailing system records', async () => {
    const fake = new FakeEsdb();
    const store = storeOn(fake);
    expect(await store.headPosition()).toBe(0);
    for (let i = 0; i < 100; i += 1) fake.write('$stats-node', '$statsCollected');
    expect(await store.headPosition()).toBe(0);
    const last = fake.write('mission-a', 'mission.noted');
    for (let i = 0; i < 100; i += 1) fake.write('$stats-node', '$statsCollected');
    expect(await store.headPosition()).toBe(Number(last.position?.prepare));
  });

  it('validates arguments', async () => {
    const store = storeOn(new FakeEsdb());
    expect((await rejectionOf(store.readAll({ after: -1, limit: 1 }))).code).toBe(
      'INVALID_ARGUMENT',
    );
    expect((await rejectionOf(store.readStream('$all'))).code).toBe('INVALID_ARGUMENT');
  });
});

describe('EventStoreDbStore.subscribe (fake client)', () => {
  it('catches up, reports it, follows live events once each and unsubscribes on abort', async () => {
    const fake = new FakeEsdb();
    const store = storeOn(fake);
    const first = fake.write('mission-a', 'mission.noted');
    const second = fake.write('mission-a', 'mission.noted');
    const controller = new AbortController();
    const caughtUp: number[] = [];
    const iterator = store.subscribe({
      batchSize: 10,
      signal: controller.signal,
      onCaughtUp: (position) => caughtUp.push(position),
    });

    expect((await iterator.next()).value).toMatchObject({ id: first.id });
    expect((await iterator.next()).value).toMatchObject({ id: second.id });
    const third = iterator.next();
    await expect.poll(() => fake.subscriptions.length).toBe(1);
    expect(caughtUp).toEqual([Number(second.position?.prepare)]);

    const live = fake.subscriptions[0];
    const system = fake.write('$stats-node', '$statsCollected');
    const fresh = fake.write('mission-b', 'mission.noted');
    // The server repeats the boundary event and filters system records server side; the store
    // must drop the repeat and any system record that gets through.
    live?.write({ event: second });
    live?.write({ event: system });
    live?.write({ event: fresh });
    live?.emit('caughtUp');
    expect((await third).value).toMatchObject({ id: fresh.id });
    // Reported once the consumer has taken the event and asks for more.
    expect(caughtUp).toEqual([Number(second.position?.prepare)]);
    const ending = iterator.next();
    await expect
      .poll(() => caughtUp)
      .toEqual([Number(second.position?.prepare), Number(fresh.position?.prepare)]);
    controller.abort();
    expect(await ending).toEqual({ done: true, value: undefined });
    expect(live?.unsubscribed).toBe(true);
    expect(live?.destroyed).toBe(true);
  });

  it('ends live subscriptions with STORE_CLOSED when the store closes', async () => {
    const fake = new FakeEsdb();
    const store = storeOn(fake);
    const iterator = store.subscribe();
    const pending = iterator.next();
    await expect.poll(() => fake.subscriptions.length).toBe(1);
    await store.close();
    expect((await rejectionOf(pending)).code).toBe('STORE_CLOSED');
  });
});

describe('EventStoreDbStore.close (fake client)', () => {
  it('waits for in-flight appends, disposes once and refuses later calls', async () => {
    const fake = new FakeEsdb();
    const store = storeOn(fake);
    let release: () => void = () => undefined;
    fake.beforeAppend = () => new Promise<void>((resolve) => (release = resolve));
    const appending = store.append('mission-m1', [dispatched()]);
    await expect.poll(() => fake.appendCalls).toBe(1);
    const closing = store.close();
    expect(fake.disposed).toBe(0);
    release();
    expect((await appending).revisions).toEqual([0]);
    await closing;
    await store.close();
    expect(fake.disposed).toBe(1);
    const error = await rejectionOf(store.append('mission-m1', [dispatched()]));
    expect(isLedgerError(error, 'STORE_CLOSED')).toBe(true);
    expect(() => store.subscribe()).toThrow(LedgerError);
    expect((await rejectionOf(store.ping())).code).toBe('STORE_CLOSED');
  });
});
