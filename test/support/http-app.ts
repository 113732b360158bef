import { randomUUID } from 'node:crypto';
import type { Server } from 'node:http';
import { afterAll, beforeAll } from 'vitest';
import type { AddressInfo } from 'node:net';
import { createApp } from '../../src/http/app.ts';
import { OpenStreams } from '../../src/http/event-stream.ts';
import { TokenAuthenticator, type TokenEntry } from '../../src/http/auth.ts';
import { KeyRegistry } from '../../src/ledger/key-registry.ts';
import { KeyRingCache } from '../../src/ledger/key-ring-cache.ts';
import { MissionLedger } from '../../src/ledger/mission-ledger.ts';
import type { RejectionLimits } from '../../src/ledger/rejection-budget.ts';
import { createLogger, type Logger } from '../../src/logger.ts';
import { ReadModels } from '../../src/read-models/read-models.ts';
import { openStore } from '../../src/store/open-store.ts';
import type { EventStore } from '../../src/store/port.ts';
import { SqlEventStore } from '../../src/store/sql/sql-store.ts';
import { dropSchemas } from './postgres.ts';
import type { PolicyInForce } from '../../src/domain/mission/index.ts';
import type { Environment } from '../../schemas/index.ts';
import { PolicyHolder, type PolicyHolderOptions } from '../../src/ledger/policy-holder.ts';
import { shippedProfiles, type ShippedProfileId } from '../../src/policy/shipped-profiles.ts';

/** The instance the dispatch fixture is addressed to (fixtures/mission-dispatch.example.json). */
export const TARGET_INSTANCE = 'ua-factory-07';
/** An instance no fixture mission is addressed to. */
export const OTHER_INSTANCE = 'ua-factory-99';

/** One bearer token per role the Mission API knows, plus a factory bound to another instance. */
export const TOKENS = {
  operator: 'test-operator-token-000000000001',
  auditor: 'test-auditor-token-0000000000002',
  factory: 'test-factory-token-0000000000003',
  otherFactory: 'test-other-factory-token-00000004',
} as const;

/** The operator's principal id: what `requested_by` and `actor` say (`operator:<name>`). */
export const OPERATOR_NAME = 'ops-alice';
export const AUDITOR_NAME = 'audit-bob';

/** The tokens file entries for {@link TOKENS}. */
export const TOKEN_ENTRIES: TokenEntry[] = [
  { token: TOKENS.operator, role: 'operator', name: OPERATOR_NAME },
  { token: TOKENS.auditor, role: 'auditor', name: AUDITOR_NAME },
  { token: TOKENS.factory, role: 'factory', instance_id: TARGET_INSTANCE },
  { token: TOKENS.otherFactory, role: 'factory', instance_id: OTHER_INSTANCE },
];

export interface CallOptions {
  /** Sent as `Authorization: Bearer <token>`. */
  token?: string;
  /** Serialized as JSON, with `Content-Type: application/json` unless `headers` says otherwise. */
  body?: unknown;
  headers?: Record<string, string>;
  /** Sent exactly as given; no Content-Type is added. */
  rawBody?: string | Uint8Array;
}

/** The error body every failure has: `{ error: { code, message, details } }`. */
export interface ApiError {
  code: string;
  message: string;
  details: {
    reasons?: { code: string; message: string }[];
    recorded?: { revision: number; position: number };
    duplicate?: boolean;
    [key: string]: unknown;
  };
}

/** The answer to a dispatch, callback or cancel. */
export interface CommandBody {
  mission_id: string;
  vp_session_id?: string;
  revision: number;
  position: number;
  duplicate: boolean;
}

/** What a test may read from any answer without knowing which it is. */
export type ApiBody = Partial<CommandBody> & { error?: ApiError } & Record<string, unknown>;

export interface CallResult<T = ApiBody> {
  status: number;
  /** The parsed JSON body (as `T`, unchecked), or the text when the response is not JSON. */
  body: T;
  headers: Headers;
}

export interface TestApp {
  /** `http://127.0.0.1:<port>`; routes live under `/v1`. */
  base: string;
  port: number;
  /** One HTTP request; `path` starts with `/` (e.g. `/v1/missions`). */
  call<T = ApiBody>(method: string, path: string, options?: CallOptions): Promise<CallResult<T>>;
  /** Severs every open connection (long-lived streams included), as a crashed proxy would. */
  dropConnections(): void;
  /** The read models the app serves from. */
  readModels: ReadModels;
  /** The event streams the app is serving right now. */
  openStreams: OpenStreams;
  /** The key ring of the app's process, as `ledger serve` keeps it. */
  keyRing: KeyRingCache;
  /**
   * Shuts down as `ledger serve` does: aborts the event streams and closes the server, waiting
   * for open connections to finish by themselves (none is cut off). Then as `close`.
   */
  shutDown(): Promise<void>;
  close(): Promise<void>;
}

export interface StartAppOptions {
  store: EventStore;
  /** Default: read models beside the (SQL) store, started here and stopped by `close`. */
  readModels?: ReadModels;
  minPositionWaitMs?: number;
  tokens?: TokenEntry[];
  bodyLimit?: number;
  /** The ledger's receive clock; defaults to the real one. */
  now?: () => Date;
  rejectionLimits?: RejectionLimits;
  requestTimeoutMs?: number;
  readyzTimeoutMs?: number;
  /** Default: a silent logger. */
  logger?: Logger;
  /** `info.env`; default `test`. */
  env?: string;
  devTokensFile?: string;
  /** The policy each input is decided under; default the app's policy holder and key ring. */
  policy?: () => PolicyInForce;
  /** The shipped profile the app starts with (recorded as ledger serve does); default development. */
  policyProfile?: ShippedProfileId;
  /** Default development. */
  policyEnvironment?: Environment;
  /** How profile documents activated over the API are trusted; default: accepted unsigned. */
  policyTrust?: PolicyHolderOptions['trust'];
}

/**
 * The read models `startApp` started beside a store, shared by every app on that store. A second
 * set would only stand by, and on PostgreSQL each standby runner holds one of the store's pool
 * connections: two sets of five runners take all ten, and the store's own queries then wait
 * forever.
 */
const besideStore = new WeakMap<
  EventStore,
  { readModels: ReadModels; started: Promise<void>; apps: number }
>();

/** The shared read models beside `store`, started; `release` stops them after the last app. */
async function acquireReadModels(store: EventStore) {
  let entry = besideStore.get(store);
  if (entry === undefined) {
    const readModels = readModelsBeside(store);
    entry = { readModels, started: readModels.start(), apps: 0 };
    besideStore.set(store, entry);
  }
  entry.apps += 1;
  const held = entry;
  try {
    await held.started;
  } catch (error) {
    held.apps -= 1;
    if (besideStore.get(store) === held) besideStore.delete(store);
    throw error;
  }
  return {
    readModels: held.readModels,
    release: async () => {
      held.apps -= 1;
      if (held.apps > 0) return;
      if (besideStore.get(store) === held) besideStore.delete(store);
      await held.readModels.stop();
    },
  };
}

/**
 * Starts the real application on an ephemeral port of 127.0.0.1. Without `readModels`, it serves
 * from read models beside the store, shared with the other apps started on the same store.
 */
export async function startApp(options: StartAppOptions): Promise<TestApp> {
  const own = options.readModels === undefined ? await acquireReadModels(options.store) : undefined;
  const readModels = options.readModels ?? own!.readModels;
  const openStreams = new OpenStreams();
  const shutdown = new AbortController();
  const now = options.now ?? (() => new Date());
  const ledger = new MissionLedger({
    store: options.store,
    now,
    newId: () => `vps_${randomUUID()}`,
    ...(options.rejectionLimits === undefined ? {} : { rejectionLimits: options.rejectionLimits }),
    policy: options.policy ?? (() => ({ active: policy.current.active, keys: keyRing.current() })),
  });
  const keyRing = new KeyRingCache({ store: options.store });
  await keyRing.start();
  // As `ledger serve` does: the profile in force is recorded when the app starts.
  const policy = new PolicyHolder({
    store: options.store,
    profile: shippedProfiles[options.policyProfile ?? 'development'],
    signedBy: null,
    environment: options.policyEnvironment ?? 'development',
    override: null,
    now,
    trust: options.policyTrust ?? (() => null),
  });
  await policy.start();
  const keys = new KeyRegistry({
    store: options.store,
    now,
    cache: keyRing,
    ...(options.rejectionLimits === undefined ? {} : { rejectionLimits: options.rejectionLimits }),
  });
  const app = createApp({
    ledger,
    keys,
    policy,
    store: options.store,
    readModels,
    openStreams,
    shutdown: shutdown.signal,
    ...(options.requestTimeoutMs === undefined
      ? {}
      : { requestTimeoutMs: options.requestTimeoutMs }),
    ...(options.readyzTimeoutMs === undefined ? {} : { readyzTimeoutMs: options.readyzTimeoutMs }),
    ...(options.minPositionWaitMs === undefined
      ? {}
      : { minPositionWaitMs: options.minPositionWaitMs }),
    logger: options.logger ?? createLogger('silent'),
    authenticator: new TokenAuthenticator(options.tokens ?? TOKEN_ENTRIES),
    info: { store: 'test', env: options.env ?? 'test', version: '0.0.0-test' },
    ...(options.devTokensFile === undefined ? {} : { devTokensFile: options.devTokensFile }),
    ...(options.bodyLimit === undefined ? {} : { bodyLimit: options.bodyLimit }),
    now,
  });
  const server: Server = app.listen(0, '127.0.0.1');
  await new Promise<void>((resolve, reject) => {
    server.once('listening', resolve);
    server.once('error', reject);
  });
  const port = (server.address() as AddressInfo).port;
  const base = `http://127.0.0.1:${port}`;

  const call = async <T = ApiBody>(
    method: string,
    path: string,
    { token, body, headers = {}, rawBody }: CallOptions = {},
  ): Promise<CallResult<T>> => {
    const sent: Record<string, string> = {};
    if (token !== undefined) sent.authorization = `Bearer ${token}`;
    let payload: string | Uint8Array | undefined = rawBody;
    if (rawBody === undefined && body !== undefined) {
      payload = JSON.stringify(body);
      sent['content-type'] = 'application/json';
    }
    for (const [name, value] of Object.entries(headers)) sent[name.toLowerCase()] = value;
    const res = await fetch(`${base}${path}`, {
      method,
      headers: sent,
      ...(payload === undefined ? {} : { body: payload }),
    });
    const text = await res.text();
    let parsed: unknown = text;
    if ((res.headers.get('content-type') ?? '').includes('application/json') && text !== '') {
      parsed = JSON.parse(text);
    }
    return { status: res.status, body: parsed as T, headers: res.headers };
  };

  let closed = false;
  const close = async (): Promise<void> => {
    if (closed) return;
    closed = true;
    await new Promise<void>((resolve, reject) => {
      server.close((error) => (error === undefined ? resolve() : reject(error)));
      server.closeAllConnections();
    });
    await policy.stop();
    await keyRing.stop();
    await own?.release();
  };

  const shutDown = async (): Promise<void> => {
    if (closed) return;
    closed = true;
    shutdown.abort();
    await new Promise<void>((resolve, reject) => {
      server.close((error) => (error === undefined ? resolve() : reject(error)));
      server.closeIdleConnections();
    });
    await policy.stop();
    await keyRing.stop();
    await own?.release();
  };

  return {
    base,
    port,
    call,
    close,
    shutDown,
    openStreams,
    readModels,
    keyRing,
    dropConnections: () => server.closeAllConnections(),
  };
}

/**
 * Read models in the store's own database (schema `<store schema>_read_models`), sharing its
 * connections: what `ledger serve` does on PGlite. Not started.
 */
export function readModelsBeside(store: EventStore): ReadModels {
  if (!(store instanceof SqlEventStore)) throw new Error('Test apps run on an SQL store.');
  return new ReadModels({
    store,
    db: store.database,
    schema: `${store.schema}_read_models`,
    watchMs: 100,
  });
}

/** The store and app of a suite, set by {@link useStoreAndApp} before its tests run. */
export interface SuiteApp {
  readonly store: EventStore;
  readonly app: TestApp;
}

/**
 * Opens the store `url()` names and starts an app on it before the suite's tests; closes both, and
 * drops the PostgreSQL schemas the suite made, after them. Call it inside a `describe`.
 */
export function useStoreAndApp(
  url: () => string,
  options: Omit<StartAppOptions, 'store'> = {},
): SuiteApp {
  let store: EventStore | undefined;
  let app: TestApp | undefined;
  beforeAll(async () => {
    store = await openStore(url());
    app = await startApp({ ...options, store });
  });
  afterAll(async () => {
    await app?.close();
    await store?.close();
    await dropSchemas();
  });
  return {
    get store() {
      if (store === undefined) throw new Error('the suite store is opened in beforeAll');
      return store;
    },
    get app() {
      if (app === undefined) throw new Error('the suite app is started in beforeAll');
      return app;
    },
  };
}
