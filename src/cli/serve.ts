import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { loadConfig, type LedgerConfig } from '../config.ts';
import { nanoid } from 'nanoid';
import { LedgerError, isLedgerError } from '../errors.ts';
import { createApp } from '../http/app.ts';
import { KeyRegistry } from '../ledger/key-registry.ts';
import { KeyRingCache } from '../ledger/key-ring-cache.ts';
import { PolicyHolder } from '../ledger/policy-holder.ts';
import { policyMatrix } from '../policy/active-policy.ts';
import { loadPolicyConfig } from './policy-config.ts';
import { MissionLedger } from '../ledger/mission-ledger.ts';
import { OpenStreams } from '../http/event-stream.ts';
import { TokenAuthenticator } from '../http/auth.ts';
import { loadTokens, type LoadedTokens } from './tokens.ts';
import { bindPort, serveWith } from './bind-port.ts';
import { refuseUnsafeStore } from './unsafe-store.ts';
import { refuseEmbeddedProjector } from './projector.ts';
import { createLogger } from '../logger.ts';
import { openReadModelDatabase } from '../read-models/open-read-models.ts';
import { ReadModels } from '../read-models/read-models.ts';
import type { AnyTables } from '../read-models/read-model-tables.ts';
import type { ProjectionFold } from '../../projections/projection.ts';
import {
  DEFAULT_PG_DEADLINES,
  describeConnectFailure,
  openStore,
  parseStoreUrl,
  redactStoreUrl,
  type PgDeadlines,
} from '../store/open-store.ts';
import type { EventStore } from '../store/port.ts';
import { packageVersion } from './package-version.ts';

function banner(
  url: string,
  config: LedgerConfig,
  version: string,
  tokens: LoadedTokens,
  readModels: string,
  runProjections: boolean,
): string {
  const location = parseStoreUrl(config.LEDGER_STORE);
  const durability =
    location.kind === 'pglite'
      ? location.dataDir === undefined
        ? 'embedded PGlite in memory: nothing is kept after exit'
        : 'embedded PGlite (no fsync: for development, not production)'
      : location.kind === 'memory'
        ? 'in memory: nothing is kept after exit; for tests and simulation'
        : location.kind;
  const rows: [string, string][] = [
    ['url', url],
    ['store', `${redactStoreUrl(config.LEDGER_STORE)} (${durability})`],
    ['read models', readModels],
    [
      'projections',
      runProjections
        ? 'run here (one process of those sharing the read models leads)'
        : 'run elsewhere: `ledger projector` (--no-projections)',
    ],
    ['environment', config.LEDGER_ENV],
    ['max event size', `${config.LEDGER_MAX_EVENT_BYTES} bytes`],
    ['max body size', `${config.LEDGER_BODY_LIMIT} bytes`],
    [
      'deadlines',
      `store calls ${config.LEDGER_STORE_TIMEOUT_MS} ms, requests ${config.LEDGER_REQUEST_TIMEOUT_MS} ms, readyz ${config.LEDGER_READYZ_TIMEOUT_MS} ms`,
    ],
    [
      'tokens',
      `${tokens.path} (${tokens.entries.length} token${tokens.entries.length === 1 ? '' : 's'}${tokens.created ? ', created now: a development operator token' : ''})`,
    ],
    ['log level', config.LOG_LEVEL],
  ];
  const width = Math.max(...rows.map(([k]) => k.length));
  return [
    `mission-ledger ${version}`,
    ...rows.map(([k, v]) => `  ${k.padEnd(width)}  ${v}`),
    '',
  ].join('\n');
}

/** A failure to connect to the read models' own database, said as the store's are. */
function explainReadModelsFailure(error: unknown, config: LedgerConfig): unknown {
  if (config.LEDGER_READ_MODELS === undefined || isLedgerError(error)) return error;
  const failure = describeConnectFailure(error, config.LEDGER_READ_MODELS, 'LEDGER_READ_MODELS');
  return failure === undefined
    ? error
    : new LedgerError(failure.code, failure.message, {}, { cause: error });
}

export interface ServeOptions {
  /** False: `--no-projections`, a projector elsewhere writes the read models. */
  projections?: boolean;
  /** The projections to run and read; default every one the ledger serves. */
  folds?: readonly ProjectionFold<AnyTables>[];
}

/**
 * `ledger serve`: check the configuration, bind the port, open the store (migrating it) and the
 * read models, then serve HTTP. A start step that fails closes everything opened before it, in
 * reverse order, so the process exits at once with its one-line error and holds no lock or
 * connection. On SIGINT or SIGTERM stop accepting connections, end the event streams, let
 * in-flight requests and appends finish (each bounded by its deadline), then close the store.
 * Shutdown never waits on a client.
 */
export async function runServe(options: ServeOptions = {}): Promise<void> {
  const config = loadConfig();
  refuseUnsafeStore(config);
  const runProjections = options.projections !== false;
  if (!runProjections) refuseEmbeddedProjector(config, 'ledger serve --no-projections');
  const logger = createLogger(config.LOG_LEVEL);
  const version = await packageVersion();
  const tokens = await loadTokens(config);
  const authenticator = new TokenAuthenticator(tokens.entries);
  const deadlines: PgDeadlines = {
    ...DEFAULT_PG_DEADLINES,
    timeoutMs: config.LEDGER_STORE_TIMEOUT_MS,
  };
  // What start-up has opened, last first: closed if a later step fails.
  const opened: (() => Promise<unknown>)[] = [];
  let server: Server;
  let store: EventStore;
  let readModels: ReadModels;
  let readModelsAt: string;
  let keyRing: KeyRingCache;
  let policy: PolicyHolder;
  // Before the port or the store: a profile file that is missing or untrusted stops the start.
  const policyConfig = await loadPolicyConfig(config);
  try {
    server = await bindPort(config.PORT, config.HOST);
    const bound = server;
    opened.unshift(() => new Promise((resolve) => bound.close(resolve)));
    store = await openStore(config.LEDGER_STORE, {
      maxEventBytes: config.LEDGER_MAX_EVENT_BYTES,
      deadlines,
    });
    const openedStore = store;
    opened.unshift(() => openedStore.close());
    const target = openReadModelDatabase(
      config.LEDGER_STORE,
      store,
      config.LEDGER_READ_MODELS,
      deadlines,
    );
    readModelsAt = target.description;
    readModels = new ReadModels({
      store,
      db: target.db,
      schema: target.schema,
      closeDb: target.close,
      logger,
      runProjections,
      ...(options.folds === undefined ? {} : { folds: options.folds }),
    });
    // Stopping the read models closes their database, even after a start that failed half-way.
    const models = readModels;
    opened.unshift(() => models.stop());
    await readModels.start();
    keyRing = new KeyRingCache({ store, logger });
    await keyRing.start();
    const ring = keyRing;
    opened.unshift(() => ring.stop());
    policy = new PolicyHolder({
      store,
      profile: policyConfig.profile,
      signedBy: policyConfig.signedBy,
      environment: config.LEDGER_ENV,
      override: config.LEDGER_POLICY_MODE ?? null,
      now: () => new Date(),
      trust: policyConfig.trust,
    });
    await policy.start();
    const holder = policy;
    opened.unshift(() => holder.stop());
  } catch (error) {
    for (const close of opened) await close().catch(() => undefined);
    throw explainReadModelsFailure(error, config);
  }
  const ledger = new MissionLedger({
    store,
    now: () => new Date(),
    newId: () => `vps_${nanoid()}`,
    rejectionLimits: {
      perMinute: config.LEDGER_REJECTIONS_PER_MINUTE,
      bytesPerMinute: config.LEDGER_REJECTION_BYTES_PER_MINUTE,
    },
    policy: () => ({ active: policy.current.active, keys: keyRing.current() }),
  });
  const keys = new KeyRegistry({
    store,
    now: () => new Date(),
    cache: keyRing,
    rejectionLimits: {
      perMinute: config.LEDGER_REJECTIONS_PER_MINUTE,
      bytesPerMinute: config.LEDGER_REJECTION_BYTES_PER_MINUTE,
    },
  });
  const shutdown = new AbortController();
  const app = createApp({
    ledger,
    keys,
    policy,
    // A 401 in development names the file its tokens are in.
    ...(config.LEDGER_TOKENS_FILE === undefined ? { devTokensFile: tokens.path } : {}),
    shutdown: shutdown.signal,
    openStreams: new OpenStreams(),
    requestTimeoutMs: config.LEDGER_REQUEST_TIMEOUT_MS,
    readyzTimeoutMs: config.LEDGER_READYZ_TIMEOUT_MS,
    readModels,
    minPositionWaitMs: config.LEDGER_MIN_POSITION_WAIT_MS,
    store,
    logger,
    authenticator,
    bodyLimit: config.LEDGER_BODY_LIMIT,
    info: { store: redactStoreUrl(config.LEDGER_STORE), env: config.LEDGER_ENV, version },
  });
  serveWith(server, app);
  const { port } = server.address() as AddressInfo;
  const url = `http://${config.HOST.includes(':') ? `[${config.HOST}]` : config.HOST}:${port}`;
  process.stderr.write(banner(url, config, version, tokens, readModelsAt, runProjections));
  process.stderr.write(`${policyMatrix(policy.current.active)}\n`);
  logger.info(
    { url, store: redactStoreUrl(config.LEDGER_STORE), env: config.LEDGER_ENV },
    'listening',
  );

  let stopping = false;
  const stop = (signal: string) => {
    if (stopping) return;
    stopping = true;
    logger.info({ signal }, 'shutting down: finishing in-flight requests');
    shutdown.abort();
    server.close(() => {
      void policy
        .stop()
        .then(() => keyRing.stop())
        .then(() => readModels.stop())
        .then(
          () => store.close(),
          (error: unknown) => {
            logger.error({ err: error }, 'stopping the read models failed');
            return store.close();
          },
        )
        .then(
          () => {
            logger.info('stopped');
            logger.flush();
            // Sockets of a dead network (a partition) may linger until TCP gives up, many
            // minutes on; they must not keep a process that has finished its work alive.
            setTimeout(() => process.exit(), 2_000).unref();
          },
          (error: unknown) => {
            logger.error({ err: error }, 'closing the store failed');
            process.exitCode = 1;
          },
        );
    });
    server.closeIdleConnections();
    // Requests still open after their deadline have been answered; a client that keeps its
    // connection open past that (or will not read its answer) is cut off rather than waited on.
    setTimeout(() => server.closeAllConnections(), config.LEDGER_REQUEST_TIMEOUT_MS).unref();
  };
  process.once('SIGINT', () => stop('SIGINT'));
  process.once('SIGTERM', () => stop('SIGTERM'));
}
