import { resolve } from 'node:path';
import { Kysely, PostgresDialect } from 'kysely';
import { DEFAULT_STORE_URL } from '../defaults.ts';
import { LedgerError } from '../errors.ts';
import { openMemoryStore } from './memory/memory-store.ts';
import type { EventStore } from './port.ts';
import { assertSchemaName, migrateToLatest } from './sql/migrations.ts';
import { DEFAULT_PG_DEADLINES, deadlinePool, type PgDeadlines } from './sql/pg-pool.ts';
import { describeConnectFailure, type ConnectFailure } from './sql/connect-error.ts';
import { postgresDriver } from './sql/postgres-driver.ts';
import { SqlEventStore, type SqlDriver, type SqlStoreOptions } from './sql/sql-store.ts';

/*
 * Outside src/store only this module and port.ts are imported (.dependency-cruiser.js). Besides
 * opening stores, this module is where the SQL read side (read models, the projection engine) gets
 * what it shares with the SQL store: connection deadlines and timeout detection.
 */
export { DEFAULT_PG_DEADLINES, type PgDeadlines };
export { isTimeout } from './sql/translate-error.ts';
export { describeConnectFailure, type ConnectFailure } from './sql/connect-error.ts';
export { inMemoryPglite } from './sql/in-memory-pglite.ts';

/** A parsed `LEDGER_STORE` value. */
export type StoreLocation =
  | { kind: 'memory' }
  | { kind: 'pglite'; dataDir: string | undefined }
  | { kind: 'postgres'; connectionString: string; schema: string }
  | { kind: 'eventstoredb'; connectionString: string };

/**
 * Parses a store URL:
 * - `memory:` (this process's memory, nothing kept; takes no parameters);
 * - `pglite:./path` (a directory) or `pglite:memory` (nothing kept); an empty path is refused;
 * - `postgres://user@host:5432/db?schema=ledger` (`postgresql://` too; `schema` defaults to `ledger`);
 * - `esdb://host:2113?tls=false` (`esdb+discover://` too).
 *
 * A query parameter the driver does not know is refused rather than ignored: a misspelt
 * `?shema=` would otherwise write into the default schema without a word. `variable` names the
 * setting the URL came from, for the messages.
 */
export function parseStoreUrl(url: string, variable = 'LEDGER_STORE'): StoreLocation {
  if (url.startsWith('memory:')) {
    if (url !== 'memory:') {
      throw new LedgerError('CONFIGURATION_INVALID', 'LEDGER_STORE memory: takes no parameters.', {
        store: redactStoreUrl(url),
      });
    }
    return { kind: 'memory' };
  }
  if (url.startsWith('pglite:')) {
    const rest = url.slice('pglite:'.length).replace(/^\/\//, '');
    // An empty path is almost always an unset variable (`pglite:$DATA_DIR`): taking it as memory
    // would lose everything at exit without a word, so memory has to be asked for by name.
    if (rest === '') {
      throw new LedgerError(
        'CONFIGURATION_INVALID',
        `${variable}=pglite: names no directory; give one (pglite:./.ledger) or say pglite:memory to keep nothing.`,
        { store: url },
      );
    }
    if (rest.includes('?')) {
      throw new LedgerError(
        'CONFIGURATION_INVALID',
        `${variable} pglite: takes a directory and no parameters.`,
        { store: redactStoreUrl(url) },
      );
    }
    return { kind: 'pglite', dataDir: rest === 'memory' ? undefined : resolve(rest) };
  }
  if (url.startsWith('postgres://') || url.startsWith('postgresql://')) {
    let parsed: URL;
    try {
      parsed = new URL(url);
    } catch {
      throw new LedgerError(
        'CONFIGURATION_INVALID',
        'LEDGER_STORE is not a valid postgres:// URL.',
        {
          store: redactStoreUrl(url),
        },
      );
    }
    refuseUnknownParameters(variable, url, parsed.searchParams, POSTGRES_PARAMETERS);
    const schema = parsed.searchParams.get('schema') ?? 'ledger';
    assertSchemaName(schema);
    // pg would pass an unknown parameter to the server as a setting, which fails the connection.
    parsed.searchParams.delete('schema');
    return { kind: 'postgres', connectionString: parsed.toString(), schema };
  }
  if (url.startsWith('esdb://') || url.startsWith('esdb+discover://')) {
    const query = url.indexOf('?');
    if (query >= 0) {
      const parameters = new URLSearchParams(url.slice(query + 1));
      refuseUnknownParameters(variable, url, parameters, ESDB_PARAMETERS, (k) => k.toLowerCase());
    }
    return { kind: 'eventstoredb', connectionString: url };
  }
  throw new LedgerError(
    'CONFIGURATION_INVALID',
    'LEDGER_STORE must be memory: or start with pglite:, postgres://, postgresql://, esdb:// or esdb+discover://.',
    { store: redactStoreUrl(url) },
  );
}

/**
 * Whether the store at `location` makes an acknowledged append durable (fsync) before answering:
 * PostgreSQL and EventStoreDB do; embedded PGlite never fsyncs and `memory:` keeps nothing.
 */
export function storeFsyncs(location: StoreLocation): boolean {
  return location.kind === 'postgres' || location.kind === 'eventstoredb';
}

/**
 * The parameters a `postgres://` store URL may carry: `schema` (ours) and the ones pg's connection
 * string parser reads (TLS, application name, server options, socket host and port).
 */
const POSTGRES_PARAMETERS = [
  'schema',
  'sslmode',
  'ssl',
  'sslcert',
  'sslkey',
  'sslrootcert',
  'sslnegotiation',
  'application_name',
  'fallback_application_name',
  'options',
  'client_encoding',
  'host',
  'port',
  'user',
  'password',
];

/** The options the EventStoreDB client reads from its connection string (case-insensitive). */
const ESDB_PARAMETERS = [
  'tls',
  'tlsVerifyCert',
  'tlsCAFile',
  'userCertFile',
  'userKeyFile',
  'connectionName',
  'nodePreference',
  'maxDiscoverAttempts',
  'discoveryInterval',
  'gossipTimeout',
  'keepAliveInterval',
  'keepAliveTimeout',
  'defaultDeadline',
  'dnsDiscover',
  'throwOnAppendFailure',
];

function refuseUnknownParameters(
  variable: string,
  url: string,
  parameters: URLSearchParams,
  known: readonly string[],
  normalise: (key: string) => string = (k) => k,
): void {
  const allowed = new Set(known.map(normalise));
  const unknown = [...new Set(parameters.keys())].filter((k) => !allowed.has(normalise(k)));
  if (unknown.length === 0) return;
  throw new LedgerError(
    'CONFIGURATION_INVALID',
    `${variable} has unknown parameter${unknown.length === 1 ? '' : 's'} ${unknown.map((k) => `"${k}"`).join(', ')}; known: ${known.join(', ')}.`,
    { store: redactStoreUrl(url), unknown },
  );
}

/**
 * The URL with its credentials replaced, for logs, banners and error details. Whatever stands
 * between the scheme and the last `@` is treated as credentials, so malformed URLs (an unencoded
 * `@` or `/` in a password, a missing slash) leak nothing either.
 */
export function redactStoreUrl(url: string): string {
  const at = url.lastIndexOf('@');
  if (at < 0) return url;
  const scheme = /^[a-z][a-z0-9+.-]*:\/{1,2}/i.exec(url);
  const start = scheme === null ? 0 : scheme[0].length;
  const credentials = url.slice(start, at);
  const colon = credentials.indexOf(':');
  if (colon < 0 && !credentials.includes('/')) return url; // a user name alone: nothing secret
  const user =
    colon > 0 && !credentials.slice(0, colon).includes('/') ? credentials.slice(0, colon + 1) : '';
  return `${url.slice(0, start)}${user}***${url.slice(at)}`;
}

export type OpenStoreOptions = Omit<SqlStoreOptions, 'schema'> & {
  /** PostgreSQL only: how long each call may take. Default `DEFAULT_PG_DEADLINES` (pg-pool.ts). */
  deadlines?: PgDeadlines;
};

/**
 * Opens the store a URL names and brings its schema up to date. Migrations are idempotent and
 * safe when several processes start at once.
 */
export async function openStore(
  url: string = DEFAULT_STORE_URL,
  options: OpenStoreOptions = {},
): Promise<EventStore> {
  const location = parseStoreUrl(url);
  const { deadlines, ...storeOptions } = options;
  switch (location.kind) {
    case 'memory':
      return openMemoryStore({
        maxEventBytes: storeOptions.maxEventBytes,
        beforeCommit: storeOptions.beforeCommit,
      });
    case 'pglite': {
      // Loaded on demand: the wasm build adds ~45 MB to a process that never opens it.
      const { pgliteDriver } = await import('./sql/pglite-driver.ts');
      const driver = await pgliteDriver(location.dataDir);
      return openSqlStore(driver, { ...storeOptions, schema: 'ledger' });
    }
    case 'postgres':
      return openSqlStore(
        postgresDriver(location.connectionString, deadlines === undefined ? {} : { deadlines }),
        { ...storeOptions, schema: location.schema },
        (error) => describeConnectFailure(error, url, 'LEDGER_STORE'),
      );
    case 'eventstoredb': {
      // Loaded on demand: the gRPC client is heavy and most deployments never need it.
      const { openEventStoreDb } = await import('./eventstoredb/esdb-store.ts');
      return openEventStoreDb(location.connectionString, { maxEventBytes: options.maxEventBytes });
    }
  }
}

/**
 * Migrates and wraps an SQL driver; closes the driver if migration fails. `explain` turns a
 * failure to connect into one line that says which failure it was and what to fix.
 */
export async function openSqlStore(
  driver: SqlDriver,
  options: SqlStoreOptions,
  explain: (error: unknown) => ConnectFailure | undefined = () => undefined,
): Promise<SqlEventStore> {
  try {
    await migrateToLatest(driver.db, options.schema ?? 'ledger');
  } catch (error) {
    await driver.close().catch(() => undefined);
    if (error instanceof LedgerError) throw error;
    const failure = explain(error);
    throw new LedgerError(
      failure?.code ?? 'STORE_UNAVAILABLE',
      failure?.message ?? 'Could not open the event store.',
      {},
      { cause: error },
    );
  }
  return new SqlEventStore(driver, options);
}

/**
 * A kysely database on its own pool of `max` PostgreSQL connections, every call bounded by
 * `deadlines` as the store's own are.
 */
export function openPostgresDatabase(
  connectionString: string,
  max: number,
  deadlines: PgDeadlines = DEFAULT_PG_DEADLINES,
): Kysely<unknown> {
  const { kysely } = deadlinePool(connectionString, max, deadlines);
  return new Kysely<unknown>({ dialect: new PostgresDialect({ pool: kysely }) });
}

/**
 * The SQL database `store` keeps its log in, for read models kept beside it (on PGlite the only
 * connection there is); undefined when the store is not an SQL store.
 */
export function sqlDatabaseOf(store: EventStore): Kysely<unknown> | undefined {
  return store instanceof SqlEventStore ? store.database : undefined;
}
