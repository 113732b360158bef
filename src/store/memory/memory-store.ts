import { LedgerError } from '../../errors.ts';
import { DEFAULT_MAX_EVENT_BYTES, assertStreamName, checkAppend } from '../append-plan.ts';
import type {
  AppendOptions,
  AppendResult,
  EventStore,
  NewEvent,
  Position,
  ReadAllOptions,
  ReadStreamOptions,
  StoreCapabilities,
  StoredEvent,
  SubscribeOptions,
} from '../port.ts';
import { MemoryEventLog, type MemoryEventLogOptions } from './memory-log.ts';

export interface MemoryStoreOptions {
  /** Largest serialized event (data plus metadata) in bytes. Default 1 MiB. */
  maxEventBytes?: number;
  /**
   * Fault injection for tests: awaited just before each append of this handle commits, while
   * the log holds later appends (of every handle) back, as a transaction holding a lock would.
   */
  beforeCommit?: () => Promise<void>;
}

/**
 * The EventStore port in this process's memory: the engine for unit tests of the command path
 * and for simulation. It keeps nothing after exit.
 *
 * The log (`MemoryEventLog`) is shared by every handle opened on it, as processes share a
 * database; each handle has its own open/closed state. The append rules are `append-plan.ts`,
 * as for every adapter. Costs: an append is O(its events and their size), `readStream` is
 * O(events read), `readAll` O(page), `headPosition` O(1); a live subscriber is woken by the
 * commit itself.
 *
 * Returned events are deeply frozen and shared between readers: an event is copied once on the
 * way in (parsed from the text `prepareAppend` serialized) and never on the way out, so reads
 * allocate nothing per event beyond the result array. A caller that tries to mutate one gets a
 * TypeError.
 *
 * @example
 * const store = openMemoryStore();
 * const peer = new MemoryEventStore(store.log); // a second "process" on the same log
 */
export class MemoryEventStore implements EventStore {
  readonly capabilities: StoreCapabilities;
  private readonly beforeCommit: (() => Promise<void>) | undefined;
  /** Appends of this handle still waiting for their turn; `close` waits for them. */
  private readonly inFlight = new Set<Promise<unknown>>();
  private readonly closing = new AbortController();
  private closed = false;

  constructor(
    /** The log this handle reads and appends to. */
    readonly log: MemoryEventLog,
    options: MemoryStoreOptions = {},
  ) {
    this.capabilities = {
      densePositions: true,
      maxEventBytes: options.maxEventBytes ?? DEFAULT_MAX_EVENT_BYTES,
    };
    this.beforeCommit = options.beforeCommit;
  }

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
    const result = this.log.append({ stream, events: prepared, expected }, this.beforeCommit);
    if (!(result instanceof Promise)) return result;
    this.inFlight.add(result);
    try {
      return await result;
    } finally {
      this.inFlight.delete(result);
    }
  }

  readStream(stream: string, options: ReadStreamOptions = {}): Promise<StoredEvent[]> {
    return this.answer(() => {
      assertStreamName(stream);
      const from = count(options.fromRevision ?? 0, 'fromRevision');
      const limit = options.limit === undefined ? undefined : count(options.limit, 'limit');
      return this.log.readStream(stream, from, limit);
    });
  }

  readAll(options: ReadAllOptions): Promise<StoredEvent[]> {
    return this.answer(() => {
      const after = count(options.after ?? 0, 'after');
      if (!Number.isSafeInteger(options.limit) || options.limit < 1) {
        throw new LedgerError('INVALID_ARGUMENT', 'readAll needs a positive integer limit.', {
          limit: options.limit,
        });
      }
      return this.log.page(after, options.limit);
    });
  }

  headPosition(): Promise<Position> {
    return this.answer(() => this.log.head);
  }

  async *subscribe(options: SubscribeOptions = {}): AsyncIterableIterator<StoredEvent> {
    this.assertOpen();
    const batchSize = options.batchSize ?? 500;
    if (!Number.isSafeInteger(batchSize) || batchSize < 1) {
      throw new LedgerError('INVALID_ARGUMENT', 'batchSize must be a positive integer.', {
        batchSize,
      });
    }
    let after = count(options.after ?? 0, 'after');
    const { signal } = options;
    const stopped = () => this.closed || signal?.aborted === true;
    while (!stopped()) {
      const events = this.log.page(after, batchSize);
      for (const event of events) {
        yield event;
        after = event.position;
        if (stopped()) return;
      }
      if (events.length < batchSize) {
        options.onCaughtUp?.(after);
        await this.log.waitBeyond(after, [signal, this.closing.signal]);
      }
    }
  }

  ping(): Promise<void> {
    return this.answer(() => undefined);
  }

  /** Waits for this handle's queued appends, then refuses every further call with `STORE_CLOSED`. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await Promise.allSettled([...this.inFlight]);
    this.closing.abort();
  }

  /** Runs a synchronous read once the handle is known open; a throw becomes the rejection. */
  // eslint-disable-next-line @typescript-eslint/require-await -- async turns a throw into a rejection
  private async answer<T>(read: () => T): Promise<T> {
    this.assertOpen();
    return read();
  }

  private assertOpen(): void {
    if (this.closed) throw new LedgerError('STORE_CLOSED');
  }
}

/** A store on a fresh log of its own. */
export function openMemoryStore(
  options: MemoryStoreOptions & MemoryEventLogOptions = {},
): MemoryEventStore {
  const { now, ...storeOptions } = options;
  return new MemoryEventStore(new MemoryEventLog(now === undefined ? {} : { now }), storeOptions);
}

/** A position or revision argument: a non-negative integer. */
function count(value: unknown, name: string): number {
  if (typeof value === 'number' && Number.isSafeInteger(value) && value >= 0) return value;
  throw new LedgerError('INVALID_ARGUMENT', `${name} must be a non-negative integer.`, {
    [name]: value,
  });
}
