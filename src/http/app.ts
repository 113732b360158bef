import express, { type Express } from 'express';
import type { Logger } from '../logger.ts';
import type { EventStore } from '../store/port.ts';
import { errorMiddleware, intParam } from './errors.ts';

export interface AppDeps {
  store: EventStore;
  logger: Logger;
  /** Shown by /v1/healthz: which store and environment this process runs with. */
  info: { store: string; env: string; version: string };
}

/** The HTTP application under /v1. */
export function createApp({ store, logger, info }: AppDeps): Express {
  const app = express();
  app.disable('x-powered-by');
  app.set('query parser', 'simple');

  const v1 = express.Router();

  v1.get('/healthz', (_req, res) => {
    res.json({ status: 'ok', ...info });
  });

  // Ready means the store answers now. A failure is a structured degraded-state body, and the
  // next probe succeeds by itself once the store is back: nothing is cached.
  v1.get('/readyz', async (_req, res) => {
    const started = performance.now();
    try {
      await store.ping();
      res.json({
        status: 'ready',
        store: { status: 'up', latency_ms: performance.now() - started },
      });
    } catch (error) {
      const message = error instanceof Error ? error.message : String(error);
      res.status(503).json({
        status: 'degraded',
        store: { status: 'down', error: message },
        error: {
          code: 'STORE_UNAVAILABLE',
          message: 'The event store is unreachable.',
          details: {},
        },
      });
    }
  });

  v1.get('/events', async (req, res) => {
    const after = intParam(req.query.after, 'after', 0);
    const limit = intParam(req.query.limit, 'limit', 100, 1000) || 100;
    const events = await store.readAll({ after, limit });
    const last = events.at(-1);
    res.json({ events, next_after: last === undefined ? after : last.position });
  });

  app.use('/v1', v1);
  app.use(errorMiddleware(logger));
  return app;
}
