import express, { type Express } from 'express';
import { nanoid } from 'nanoid';
import { LedgerError } from '../errors.ts';
import { MissionLedger } from '../ledger/mission-ledger.ts';
import type { Logger } from '../logger.ts';
import type { ReadModels } from '../read-models/read-models.ts';
import type { EventStore } from '../store/port.ts';
import { authenticate, requireRole, type TokenAuthenticator } from './auth.ts';
import { bodyErrors, DEFAULT_BODY_LIMIT } from './body.ts';
import { errorMiddleware, intParam } from './errors.ts';
import { eventStream } from './event-stream.ts';
import { missionRoutes } from './mission-routes.ts';
import { openApiDocument } from './openapi.ts';

export interface AppDeps {
  store: EventStore;
  logger: Logger;
  authenticator: TokenAuthenticator;
  /** Shown by /v1/healthz: which store and environment this process runs with. */
  info: { store: string; env: string; version: string };
  bodyLimit?: number;
  /** The receive clock (tests pass a fixed one). */
  now?: () => Date;
  /** VP session id allocation. */
  newId?: () => string;
  /** Aborted when the server shuts down: ends the long-lived event streams. */
  shutdown?: AbortSignal;
  /** The projections' read models, started; the read routes answer from them. */
  readModels: ReadModels;
  /** Longest a read waits for its `min_position`. Default 5 s. */
  minPositionWaitMs?: number;
}

/** The HTTP application under /v1. */
export function createApp(deps: AppDeps): Express {
  const { store, logger, info } = deps;
  const ledger = new MissionLedger({
    store,
    now: deps.now ?? (() => new Date()),
    newId: deps.newId ?? (() => `vps_${nanoid()}`),
  });
  const openapi = openApiDocument(info.version);

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

  v1.get('/openapi.json', (_req, res) => {
    res.json(openapi);
  });

  v1.use(authenticate(deps.authenticator));

  v1.get('/events', requireRole('operator', 'auditor'), async (req, res) => {
    const after = intParam(req.query.after, 'after', 0);
    const limit = intParam(req.query.limit, 'limit', 100, 1000) || 100;
    const events = await store.readAll({ after, limit });
    const last = events.at(-1);
    res.json({ events, next_after: last === undefined ? after : last.position });
  });

  v1.get(
    '/events/stream',
    requireRole('operator', 'auditor'),
    eventStream(store, logger, deps.shutdown),
  );

  v1.use(missionRoutes({ ledger, store, logger, bodyLimit: deps.bodyLimit ?? DEFAULT_BODY_LIMIT }));

  app.use('/v1', v1);
  app.use((req) => {
    throw new LedgerError('ROUTE_NOT_FOUND', `No route ${req.method} ${req.path}.`, {
      method: req.method,
      path: req.path,
    });
  });
  app.use(bodyErrors);
  app.use(errorMiddleware(logger));
  return app;
}
