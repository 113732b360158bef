import { Kysely, PostgresDialect } from 'kysely';
import pg from 'pg';
import type { Position } from '../port.ts';
import { DEFAULT_PG_DEADLINES, deadlinePool, pgClientConfig, type PgDeadlines } from './pg-pool.ts';
import type { SqlDriver } from './sql-store.ts';
import type { LedgerTables } from './tables.ts';

export interface PostgresDriverOptions {
  /** Pool size. Appends use one connection at a time (group commit); readers share the rest. */
  maxConnections?: number;
  /** How long each call may take. Default {@link DEFAULT_PG_DEADLINES}. */
  deadlines?: PgDeadlines;
}

/** A pg pool behind kysely, plus a dedicated LISTEN connection for cross-process wake-ups. */
export function postgresDriver(
  connectionString: string,
  options: PostgresDriverOptions = {},
): SqlDriver {
  const deadlines = options.deadlines ?? DEFAULT_PG_DEADLINES;
  const { pool, kysely } = deadlinePool(connectionString, options.maxConnections ?? 10, deadlines);
  const db = new Kysely<LedgerTables>({ dialect: new PostgresDialect({ pool: kysely }) });
  return {
    db,
    listen: (channel, onPosition) =>
      listen(pgClientConfig(connectionString, deadlines), channel, onPosition),
    prepared: async <R>(name: string, text: string, values: unknown[]) =>
      (await pool.query<R & pg.QueryResultRow>({ name, text, values })).rows,
    close: () => db.destroy(),
  };
}

/**
 * LISTENs on `channel`, reconnecting after failures. Returns the function that stops it.
 * Lost notifications are harmless: subscribers also re-read every poll interval.
 */
async function listen(
  config: pg.ClientConfig,
  channel: string,
  onPosition: (position: Position) => void,
): Promise<() => Promise<void>> {
  let stopped = false;
  let client: pg.Client | undefined;
  let retry: NodeJS.Timeout | undefined;

  const connect = async (): Promise<void> => {
    const next = new pg.Client(config);
    next.on('notification', (message) => {
      const position = Number(message.payload);
      if (Number.isSafeInteger(position)) onPosition(position);
    });
    next.on('error', () => {
      if (stopped) return;
      client = undefined;
      next.end().catch(() => undefined);
      reconnect();
    });
    await next.connect();
    await next.query(`listen "${channel.replaceAll('"', '""')}"`);
    client = next;
  };

  // A reconnect that fails (the database still away) tries again rather than giving up.
  const reconnect = () => {
    retry = setTimeout(() => void connect().catch(() => !stopped && reconnect()), 1000);
  };

  await connect();
  return async () => {
    stopped = true;
    clearTimeout(retry);
    await client?.end().catch(() => undefined);
  };
}
