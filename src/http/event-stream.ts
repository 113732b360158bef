import type { RequestHandler, Response } from 'express';
import { LedgerError } from '../errors.ts';
import type { Logger } from '../logger.ts';
import type { EventStore, StoredEvent } from '../store/port.ts';
import { positionCursor, queryParams } from './query-params.ts';

/** A comment line keeps proxies from closing an idle stream. */
const HEARTBEAT_MS = 15_000;

/**
 * The event streams a process is serving right now. Each stream is counted from the moment its
 * handler starts until it has released everything it holds (subscription, heartbeat, listeners),
 * so a count that returns to zero after clients hang up shows that none is left running.
 */
export class OpenStreams {
  private count = 0;

  /** Streams whose handlers are still running. */
  get size(): number {
    return this.count;
  }

  /** @internal the handler's bookkeeping. */
  opened(): void {
    this.count += 1;
  }

  /** @internal the handler's bookkeeping. */
  closed(): void {
    this.count -= 1;
  }
}

export interface EventStreamOptions {
  /** Aborted when the server shuts down: every stream ends at once. */
  shutdown?: AbortSignal | undefined;
  /** Counts the streams being served. */
  streams?: OpenStreams | undefined;
}

/**
 * `GET /v1/events/stream`: the global log as Server-Sent Events, resumable (seed 004's cursor and
 * resume semantics). Each event is sent with `id: <position>`, so a client that reconnects with
 * the standard `Last-Event-ID` header (or `?after=`) continues strictly after the last event it
 * received: it misses nothing and sees nothing twice. Positions come from the store's
 * subscription, which delivers in global order, catch-up first, then live.
 *
 * Invariant: a stream ends, and frees its subscription, heartbeat and listeners, as soon as its
 * client hangs up or the server shuts down, whatever it is waiting on at that moment (a page of
 * the log being read, a socket that will not drain, new events). The one thing that may outlive
 * it is a store read already in flight, which returns within the store's own deadline and is
 * then discarded.
 */
export function eventStream(
  store: EventStore,
  logger: Logger,
  options: EventStreamOptions = {},
): RequestHandler {
  const { shutdown, streams } = options;
  return async (req, res) => {
    const query = queryParams(req, ['cursor', 'after']);
    const lastEventId = req.get('Last-Event-ID');
    if (lastEventId !== undefined && !/^\d{1,15}$/.test(lastEventId)) {
      throw new LedgerError('INVALID_ARGUMENT', 'Last-Event-ID must be a position.', {
        header: 'Last-Event-ID',
        value: lastEventId,
      });
    }
    // The header wins: an EventSource that reconnects sends it, and its first URL's cursor too.
    const after =
      lastEventId === undefined
        ? (positionCursor(query, 'after')?.value ?? 0)
        : Number(lastEventId);

    const stop = new AbortController();
    const end = () => stop.abort();
    // 'close' fires when the client hangs up; one that left before this line is seen below.
    res.once('close', end);
    // A stream never ends by itself: on shutdown it is ended, and the client resumes elsewhere.
    shutdown?.addEventListener('abort', end, { once: true });
    if (shutdown?.aborted === true || req.socket.destroyed) end();
    streams?.opened();
    // Unreferenced: a stream's heartbeat must never be what keeps a stopping process alive.
    const heartbeat = setInterval(() => res.write(': keep-alive\n\n'), HEARTBEAT_MS).unref();
    const events = store.subscribe({ after, signal: stop.signal });
    try {
      res.status(200);
      res.setHeader('Content-Type', 'text/event-stream; charset=utf-8');
      res.setHeader('Cache-Control', 'no-cache, no-transform');
      res.setHeader('Connection', 'keep-alive');
      res.setHeader('X-Accel-Buffering', 'no');
      res.flushHeaders();
      // Tell EventSource clients to retry after one second if the connection drops.
      res.write('retry: 1000\n\n');
      for (;;) {
        const event = await nextUnlessStopped(events, stop.signal);
        if (event === undefined) break;
        // Backpressure: a slow client pauses its own subscription, not the server.
        if (!res.write(frame(event))) {
          await drained(res, stop.signal);
        }
      }
    } catch (error) {
      if (!stop.signal.aborted) logger.error({ err: error }, 'event stream failed');
    } finally {
      res.off('close', end);
      shutdown?.removeEventListener('abort', end);
      clearInterval(heartbeat);
      stop.abort();
      res.end();
      streams?.closed();
    }
  };
}

/**
 * One event as an SSE frame. `event:` is the event type, so an EventSource client can listen for
 * one type by name (`addEventListener('mission.completed', …)`). A type holding CR or LF (the
 * store allows any text; the ledger writes none) cannot be a field value: it is sent without
 * `event:`, as a plain message, rather than break the framing.
 */
function frame(event: StoredEvent): string {
  const type = /[\r\n]/.test(event.type) ? '' : `event: ${event.type}\n`;
  return `id: ${event.position}\n${type}data: ${JSON.stringify(event)}\n\n`;
}

/**
 * The subscription's next event, or undefined once it ends or `signal` aborts. On abort it does
 * not wait for a read in flight: that read settles later (the subscription sees the abort and
 * returns), and the iterator is closed then, so its resources go with it.
 */
async function nextUnlessStopped(
  events: AsyncIterableIterator<StoredEvent>,
  signal: AbortSignal,
): Promise<StoredEvent | undefined> {
  if (signal.aborted) {
    await events.return?.().catch(() => undefined);
    return undefined;
  }
  const next = events.next();
  let onAbort: (() => void) | undefined;
  const aborted = new Promise<'aborted'>((resolve) => {
    onAbort = () => resolve('aborted');
    signal.addEventListener('abort', onAbort, { once: true });
  });
  try {
    const step = await Promise.race([next, aborted]);
    if (step === 'aborted') {
      void next.then(
        () => events.return?.().catch(() => undefined),
        () => undefined,
      );
      return undefined;
    }
    return step.done === true ? undefined : step.value;
  } finally {
    if (onAbort !== undefined) signal.removeEventListener('abort', onAbort);
  }
}

/** Resolves when `res` can take more data, or at once when the stream is stopping. */
function drained(res: Response, signal: AbortSignal): Promise<void> {
  if (signal.aborted || res.destroyed) return Promise.resolve();
  return new Promise((resolve) => {
    const done = () => {
      res.off('drain', done);
      signal.removeEventListener('abort', done);
      resolve();
    };
    res.on('drain', done);
    signal.addEventListener('abort', done, { once: true });
  });
}
