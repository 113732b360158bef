import type { RequestHandler } from 'express';
import { LedgerError } from '../errors.ts';
import type { Logger } from '../logger.ts';
import type { EventStore } from '../store/port.ts';

/** A comment line keeps proxies from closing an idle stream. */
const HEARTBEAT_MS = 15_000;

/**
 * `GET /v1/events/stream`: the global log as Server-Sent Events, resumable (seed 004's cursor and
 * resume semantics). Each event is sent with `id: <position>`, so a client that reconnects with
 * the standard `Last-Event-ID` header (or `?after=`) continues strictly after the last event it
 * received: it misses nothing and sees nothing twice. Positions come from the store's
 * subscription, which delivers in global order, catch-up first, then live.
 */
export function eventStream(
  store: EventStore,
  logger: Logger,
  shutdown?: AbortSignal,
): RequestHandler {
  return async (req, res) => {
    const cursor =
      req.get('Last-Event-ID') ?? (typeof req.query.after === 'string' ? req.query.after : '0');
    if (!/^\d{1,15}$/.test(cursor)) {
      throw new LedgerError('INVALID_ARGUMENT', 'Last-Event-ID (or after) must be a position.', {
        cursor,
      });
    }
    const after = Number(cursor);
    res.status(200);
    res.setHeader('Content-Type', 'text/event-stream; charset=utf-8');
    res.setHeader('Cache-Control', 'no-cache, no-transform');
    res.setHeader('Connection', 'keep-alive');
    res.setHeader('X-Accel-Buffering', 'no');
    res.flushHeaders();
    // Tell EventSource clients to retry after one second if the connection drops.
    res.write('retry: 1000\n\n');

    const stop = new AbortController();
    const heartbeat = setInterval(() => res.write(': keep-alive\n\n'), HEARTBEAT_MS);
    res.on('close', () => stop.abort());
    // A stream never ends by itself: on shutdown it is ended, and the client resumes elsewhere.
    const onShutdown = () => stop.abort();
    shutdown?.addEventListener('abort', onShutdown, { once: true });
    const drained = () =>
      new Promise<void>((resolve) => {
        res.once('drain', resolve);
        stop.signal.addEventListener('abort', () => resolve(), { once: true });
      });
    try {
      for await (const event of store.subscribe({ after, signal: stop.signal })) {
        // Backpressure: a slow client pauses its own subscription, not the server.
        if (!res.write(`id: ${event.position}\ndata: ${JSON.stringify(event)}\n\n`))
          await drained();
        if (stop.signal.aborted) break;
      }
    } catch (error) {
      if (!stop.signal.aborted) logger.error({ err: error }, 'event stream failed');
    } finally {
      shutdown?.removeEventListener('abort', onShutdown);
      clearInterval(heartbeat);
      stop.abort();
      res.end();
    }
  };
}
