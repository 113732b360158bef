import express, { type Express } from 'express';
import { LedgerError } from '../errors.ts';
import type { KeyRegistry } from '../ledger/key-registry.ts';
import type { PolicyHolder } from '../ledger/policy-holder.ts';
import type { MissionLedger } from '../ledger/mission-ledger.ts';
import type { Logger } from '../logger.ts';
import type { ReadModels } from '../read-models/read-models.ts';
import type { EventStore } from '../store/port.ts';
import { authenticate, requireRole, type TokenAuthenticator } from './auth.ts';
import { DEFAULT_BODY_LIMIT } from './body.ts';
import { errorMiddleware } from './errors.ts';
import { eventStream, type OpenStreams } from './event-stream.ts';
import { keyRoutes } from './key-routes.ts';
import { policyRoutes } from './policy-routes.ts';
import { missionRoutes } from './mission-routes.ts';
import { openApiDocument } from './openapi.ts';
import { limitParam, positionCursor, queryParams } from './query-params.ts';
import { accessLog } from './access-log.ts';
import { methodAllowed } from './method-allowed.ts';
import { readRoutes } from './read-routes.ts';
import type { EventsPage, Health } from './response-schemas/index.ts';
import { RouteTable } from './route-table.ts';
import { readiness } from './readiness.ts';
import { DEFAULT_REQUEST_TIMEOUT_MS, requestDeadline } from './request-deadline.ts';
import { requireDecodableTarget } from './request-target.ts';

export interface AppDeps {
  store: EventStore;
  logger: Logger;
  authenticator: TokenAuthenticator;
  /** Shown by /v1/healthz: which store and environment this process runs with. */
  info: { store: string; env: string; version: string };
  bodyLimit?: number;
  /** The command path: every input goes through it. */
  ledger: MissionLedger;
  /** The signing key registry (`/v1/keys`). */
  keys: KeyRegistry;
  /** The policy in force (`/v1/policy`). */
  policy: PolicyHolder;
  /** The clock reads compute ages and windows from (tests pass a fixed one). */
  now?: () => Date;
  /** Aborted when the server shuts down: ends the long-lived event streams. */
  shutdown?: AbortSignal;
  /** The projections' read models, started; the read routes answer from them. */
  readModels: ReadModels;
  /** Longest a read waits for its `min_position`. Default 5 s. */
  minPositionWaitMs?: number;
  /** Longest a request takes before it is answered 503 DEADLINE_EXCEEDED. Default 10 s. */
  requestTimeoutMs?: number;
  /** Longest `readyz` waits for the store before answering degraded. Default 1 s. */
  readyzTimeoutMs?: number;
  /** Counts the event streams being served (shutdown and tests read it). */
  openStreams?: OpenStreams;
  /**
   * The development tokens file serving uses (set when LEDGER_TOKENS_FILE is not): named in every
   * 401 when `info.env` is `development`, and never otherwise.
   */
  devTokensFile?: string;
}

/** How long a read waits for its `min_position` unless told otherwise. */
export const DEFAULT_MIN_POSITION_WAIT_MS = 5_000;

/** The HTTP application under /v1. */
export function createApp(deps: AppDeps): Express {
  const { store, logger, info, readModels, ledger } = deps;
  const now = deps.now ?? (() => new Date());
  const openapi = openApiDocument(info.version);

  const routes = new RouteTable(openapi.paths);

  const app = express();
  app.disable('x-powered-by');
  app.set('query parser', 'simple');
  app.use(accessLog(logger, routes));
  app.use(requireDecodableTarget);
  app.use(methodAllowed(routes));

  const v1 = express.Router();
  // The event stream stays open by design; it ends when its client or the server goes.
  v1.use(
    requestDeadline(
      deps.requestTimeoutMs ?? DEFAULT_REQUEST_TIMEOUT_MS,
      (path) => path === '/events/stream',
    ),
  );

  v1.get('/healthz', (_req, res) => {
    res.json({ status: 'ok', ...info } satisfies Health);
  });

  v1.get('/readyz', readiness(store, readModels, deps.readyzTimeoutMs));

  v1.get('/openapi.json', (_req, res) => {
    res.json(openapi);
  });

  v1.use(
    authenticate(deps.authenticator, {
      devTokensFile: info.env === 'development' ? deps.devTokensFile : undefined,
    }),
  );

  v1.get('/events', requireRole('operator', 'auditor'), async (req, res) => {
    const query = queryParams(req, ['cursor', 'after', 'limit']);
    const after = positionCursor(query, 'after')?.value ?? 0;
    const limit = limitParam(query);
    // One more than asked tells whether the page ends at the head: next_cursor is null there.
    const read = await store.readAll({ after, limit: limit + 1 });
    const events = read.slice(0, limit);
    const last = events.at(-1)?.position ?? after;
    res.json({
      events,
      next_cursor: read.length > limit ? String(last) : null,
      next_after: last,
    } satisfies EventsPage);
  });

  v1.get(
    '/events/stream',
    requireRole('operator', 'auditor'),
    eventStream(store, logger, { shutdown: deps.shutdown, streams: deps.openStreams }),
  );

  v1.use(missionRoutes({ ledger, logger, bodyLimit: deps.bodyLimit ?? DEFAULT_BODY_LIMIT }));
  v1.use(
    keyRoutes({ keys: deps.keys, logger, bodyLimit: deps.bodyLimit ?? DEFAULT_BODY_LIMIT, now }),
  );
  v1.use(
    policyRoutes({
      policy: deps.policy,
      logger,
      bodyLimit: deps.bodyLimit ?? DEFAULT_BODY_LIMIT,
    }),
  );
  v1.use(
    readRoutes({
      readModels,
      store,
      logger,
      now,
      minPositionWaitMs: deps.minPositionWaitMs ?? DEFAULT_MIN_POSITION_WAIT_MS,
    }),
  );

  app.use('/v1', v1);
  app.use((req) => {
    throw new LedgerError('ROUTE_NOT_FOUND', `No route ${req.method} ${req.path}.`, {
      method: req.method,
      path: req.path,
    });
  });
  app.use(errorMiddleware(logger));
  return app;
}
