import type { PostgresCursor, PostgresPool, PostgresPoolClient, PostgresQueryResult } from 'kysely';
import pg from 'pg';

/**
 * How long a PostgreSQL call may take, so that a dead network or a stuck lock ends in an error
 * the caller can answer (503) instead of a wait with no end.
 */
export interface PgDeadlines {
  /**
   * The deadline of one call, in ms: opening a connection or waiting for a free one
   * (`connectionTimeoutMillis`), and on the server `statement_timeout`, `lock_timeout` and
   * `idle_in_transaction_session_timeout`. 0 turns the server-side timeouts off (batch work such
   * as rebuilds); connecting stays bounded.
   */
  timeoutMs: number;
  /** TCP keepalive starts probing an idle connection after this long, in ms. */
  keepAliveDelayMs: number;
}

/** Serving defaults: a healthy database answers the ledger's statements in milliseconds. */
export const DEFAULT_PG_DEADLINES: PgDeadlines = { timeoutMs: 5_000, keepAliveDelayMs: 10_000 };

/**
 * How much longer the client waits for an answer than the server's own statement timeout: the
 * server's cancel (a clean error on a reusable connection) comes first; the client's only when
 * the server cannot answer at all.
 */
const CLIENT_MARGIN_MS = 1_000;

/** The longest connection wait when server-side timeouts are off. */
const BATCH_CONNECT_TIMEOUT_MS = 30_000;

/** The pg client settings that carry `deadlines`. */
export function pgClientConfig(
  connectionString: string,
  deadlines: PgDeadlines = DEFAULT_PG_DEADLINES,
): pg.ClientConfig {
  const { timeoutMs, keepAliveDelayMs } = deadlines;
  const base: pg.ClientConfig = {
    connectionString,
    connectionTimeoutMillis: timeoutMs > 0 ? timeoutMs : BATCH_CONNECT_TIMEOUT_MS,
    keepAlive: true,
    keepAliveInitialDelayMillis: keepAliveDelayMs,
  };
  if (timeoutMs === 0) return base;
  return {
    ...base,
    statement_timeout: timeoutMs,
    lock_timeout: timeoutMs,
    idle_in_transaction_session_timeout: timeoutMs,
    query_timeout: timeoutMs + CLIENT_MARGIN_MS,
  };
}

/** A pg pool with `deadlines`, and the same pool as kysely's `PostgresDialect` wants it. */
export interface DeadlinePool {
  pool: pg.Pool;
  /** For kysely: a connection whose call timed out on the client is discarded when released. */
  kysely: PostgresPool;
}

/** A pool of `max` connections to `connectionString`, every call bounded by `deadlines`. */
export function deadlinePool(
  connectionString: string,
  max: number,
  deadlines: PgDeadlines = DEFAULT_PG_DEADLINES,
): DeadlinePool {
  const pool = new pg.Pool({ ...pgClientConfig(connectionString, deadlines), max });
  // An idle client that loses its connection emits 'error' on the pool; without a listener
  // Node would crash the process. The next query reports the failure instead.
  pool.on('error', () => undefined);
  // A client whose connection dies mid-query also emits 'error' (the query itself rejects and is
  // translated); unhandled, that event would crash the process.
  pool.on('connect', (client) => {
    client.on('error', () => undefined);
  });
  return {
    pool,
    kysely: {
      connect: async () => new DiscardOnTimeout(await pool.connect()),
      end: () => pool.end(),
    },
  };
}

/** pg's error when `query_timeout` passes: the query is still outstanding on the connection. */
export function isClientTimeout(error: unknown): boolean {
  return error instanceof Error && error.message === 'Query read timeout';
}

/**
 * A pooled client that is destroyed, not reused, once one of its calls timed out on the client.
 * pg answers such a call with an error but leaves it outstanding on the connection, so every
 * later call on it would queue behind an answer that may never come (a connection cut by a
 * partition stays open until TCP gives up, many minutes later).
 */
class DiscardOnTimeout implements PostgresPoolClient {
  private failure: Error | undefined;

  constructor(private readonly client: pg.PoolClient) {}

  query<R>(sql: string, parameters: ReadonlyArray<unknown>): Promise<PostgresQueryResult<R>>;
  query<R>(cursor: PostgresCursor<R>): PostgresCursor<R>;
  query<R>(
    query: string | PostgresCursor<R>,
    parameters?: ReadonlyArray<unknown>,
  ): Promise<PostgresQueryResult<R>> | PostgresCursor<R> {
    if (typeof query !== 'string') {
      return this.client.query(query as unknown as pg.Submittable) as unknown as PostgresCursor<R>;
    }
    const result = this.client.query(query, parameters as unknown[]);
    result.catch((error: unknown) => {
      if (isClientTimeout(error)) this.failure = error as Error;
    });
    return result as unknown as Promise<PostgresQueryResult<R>>;
  }

  release(): void {
    this.client.release(this.failure);
  }
}
