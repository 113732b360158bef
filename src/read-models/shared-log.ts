import { LedgerError } from '../errors.ts';
import type { EventStore, Position, StoredEvent, SubscribeOptions } from '../store/port.ts';

export interface SharedLogOptions {
  /** Events per page read from the store. Default 2,000. */
  pageSize?: number;
  /** Most pages held between the slowest and the fastest reader (and read ahead). Default 4. */
  maxPages?: number;
}

/**
 * Wraps a store so that several subscribers catching up over the same stretch of the log (the
 * projections of a rebuild or a verification) share each page: the log is read and its JSON
 * parsed once, not once per projection, and the next page is read while the current one is
 * applied. Pages are keyed by the position they follow, so readers that start at the same place
 * share all of them. A page is dropped once every reader is past it. A reader ahead of another
 * waits rather than hold more than `maxPages`, which bounds memory; the slowest reader never
 * waits, so a reader that joins late or restarts behind the others cannot stall them. A reader
 * that reaches the end of the log continues on the store's own live subscription. Everything
 * else is the store's.
 */
export function sharedLog(store: EventStore, options: SharedLogOptions = {}): EventStore {
  const pageSize = options.pageSize ?? 2_000;
  const maxPages = options.maxPages ?? 4;
  const pages = new Map<Position, Promise<StoredEvent[]>>();
  /** Each reader's next page: the position it reads after. */
  const cursors = new Map<symbol, Position>();
  const wakers = new Set<() => void>();

  const release = () => {
    const slowest = Math.min(...cursors.values());
    for (const after of pages.keys()) if (after < slowest) pages.delete(after);
    for (const wake of [...wakers]) wake();
  };
  const fetch = (after: Position): Promise<StoredEvent[]> => {
    let page = pages.get(after);
    if (page === undefined) {
      page = readPage(after);
      page.catch(() => undefined); // awaited by its reader; not unhandled meanwhile
      pages.set(after, page);
    }
    return page;
  };
  const readPage = async (after: Position): Promise<StoredEvent[]> => {
    const events = await store.readAll({ after, limit: pageSize });
    if (store.capabilities.densePositions) {
      events.forEach((event, i) => {
        if (event.position !== after + i + 1) {
          throw new LedgerError(
            'LOG_INTEGRITY_VIOLATION',
            `The log has a hole: position ${after + i + 1} is missing.`,
            { expected: after + i + 1, found: event.position },
          );
        }
      });
    }
    return events;
  };
  /** Waits while this reader would add a page beyond `maxPages` and someone behind it will free one. */
  const room = async (after: Position, signal?: AbortSignal) => {
    const mustWait = () =>
      !pages.has(after) &&
      pages.size >= maxPages &&
      [...cursors.values()].some((other) => other < after) &&
      signal?.aborted !== true;
    while (mustWait()) {
      await new Promise<void>((resolve) => {
        const done = () => {
          wakers.delete(done);
          signal?.removeEventListener('abort', done);
          resolve();
        };
        wakers.add(done);
        signal?.addEventListener('abort', done, { once: true });
      });
    }
  };

  async function* subscribe(options: SubscribeOptions = {}): AsyncGenerator<StoredEvent> {
    const reader = Symbol('reader');
    const aborted = () => options.signal?.aborted === true;
    let after = options.after ?? 0;
    cursors.set(reader, after);
    try {
      for (;;) {
        await room(after, options.signal);
        if (aborted()) return;
        const events = await fetch(after);
        const last = events.at(-1);
        if (last !== undefined) {
          after = last.position;
          cursors.set(reader, after);
          if (events.length === pageSize && pages.size < maxPages) void fetch(after); // read ahead
        }
        release();
        for (const event of events) {
          if (aborted()) return;
          yield event;
        }
        if (events.length < pageSize) break;
      }
    } finally {
      cursors.delete(reader);
      release();
    }
    // The end of the log as it was: follow it live on the store's own subscription.
    yield* store.subscribe({ ...options, after });
  }

  return {
    capabilities: store.capabilities,
    append: (stream, events, appendOptions) => store.append(stream, events, appendOptions),
    readStream: (stream, readOptions) => store.readStream(stream, readOptions),
    readAll: (readOptions) => store.readAll(readOptions),
    headPosition: () => store.headPosition(),
    subscribe,
    ping: () => store.ping(),
    close: () => store.close(),
  };
}
