import { LedgerError } from '../errors.ts';
import type { EventStore, Position, StoredEvent, SubscribeOptions } from '../store/port.ts';

export interface SharedLogOptions {
  /** Events per page read from the store. Default 2,000. */
  pageSize?: number;
  /** Most pages held between the slowest and the fastest reader (and read ahead). Default 4. */
  maxPages?: number;
}

interface Page {
  events: Promise<StoredEvent[]>;
  /** Readers that took it; it is dropped once every active reader has. */
  takers: Set<symbol>;
}

/**
 * Wraps a store so that several subscribers catching up over the same stretch of the log (the
 * projections of a rebuild or a verification) share each page: the log is read and its JSON
 * parsed once, not once per projection, and the next page is read while the current one is
 * applied. Pages are keyed by the position they follow, so readers that start at the same place
 * share all of them. A reader may run at most `maxPages` ahead of the slowest, which bounds
 * memory. A reader that reaches the end of the log continues on the store's own live
 * subscription. Everything else is the store's.
 */
export function sharedLog(store: EventStore, options: SharedLogOptions = {}): EventStore {
  const pageSize = options.pageSize ?? 2_000;
  const maxPages = options.maxPages ?? 4;
  const pages = new Map<Position, Page>();
  const active = new Set<symbol>();
  const wakers = new Set<() => void>();

  const wake = () => {
    for (const w of [...wakers]) w();
  };
  const release = () => {
    for (const [after, page] of pages) {
      if ([...active].every((reader) => page.takers.has(reader))) pages.delete(after);
    }
    wake();
  };
  const fetch = (after: Position): Page => {
    let page = pages.get(after);
    if (page === undefined) {
      page = { events: readPage(after), takers: new Set() };
      page.events.catch(() => undefined); // awaited by the taker; not unhandled meanwhile
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
  /** Waits until fetching a new page would keep at most `maxPages` held. */
  const room = async (after: Position, signal?: AbortSignal) => {
    while (!pages.has(after) && pages.size >= maxPages && signal?.aborted !== true) {
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
    active.add(reader);
    let after = options.after ?? 0;
    try {
      for (;;) {
        await room(after, options.signal);
        if (aborted()) return;
        const page = fetch(after);
        page.takers.add(reader);
        const events = await page.events;
        const last = events.at(-1);
        if (events.length === pageSize && last !== undefined && pages.size < maxPages) {
          fetch(last.position); // read ahead while this page is applied
        }
        release();
        for (const event of events) {
          if (aborted()) return;
          yield event;
        }
        if (last !== undefined) after = last.position;
        if (events.length < pageSize) break;
      }
    } finally {
      active.delete(reader);
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
