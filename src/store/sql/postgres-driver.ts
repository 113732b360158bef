import { Kysely, PostgresDialect } from 'kysely';
import pg from 'pg';
import type { Position } from '../port.ts';
import type { SqlDriver } from './sql-store.ts';
import type { LedgerTables } from './tables.ts';

export interface PostgresDriverOptions {
  /** Pool size. Appends use one connection at a time (group commit); readers share the rest. */
  maxConnections?: number;
}

/** A pg pool behind kysely, plus a dedicated LISTEN connection for cross-process wake-ups. */
export function postgresDriver(
  connectionString: string,
  options: PostgresDriverOptions = {},
): SqlDriver {
  const pool = new pg.Pool({ connectionString, max: options.maxConnections ?? 10 });
  // An idle client that loses its connection emits 'error' on the pool; without a listener
  // Node would crash the process. The next query reports the failure instead.
  pool.on('error', () => undefined);
  // A client whose connection dies mid-query also emits 'error' (the query itself rejects and is
  // translated); unhandled, that event would crash the process.
  pool.on('connect', (client) => {
    client.on('error', () => undefined);
  });
  const db = new Kysely<LedgerTables>({ dialect: new PostgresDialect({ pool }) });
  return {
    db,
    listen: (channel, onPosition) => listen(connectionString, channel, onPosition),
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
  connectionString: string,
  channel: string,
  onPosition: (position: Position) => void,
): Promise<() => Promise<void>> {
  let stopped = false;
  let client: pg.Client | undefined;
  let retry: NodeJS.Timeout | undefined;

  const connect = async (): Promise<void> => {
    const next = new pg.Client({ connectionString });
    next.on('notification', (message) => {
      const position = Number(message.payload);
      if (Number.isSafeInteger(position)) onPosition(position);
    });
    next.on('error', () => {
      if (stopped) return;
      client = undefined;
      next.end().catch(() => undefined);
      retry = setTimeout(() => void connect().catch(() => undefined), 1000);
    });
    await next.connect();
    await next.query(`listen "${channel.replaceAll('"', '""')}"`);
    client = next;
  };

  await connect();
  return async () => {
    stopped = true;
    clearTimeout(retry);
    await client?.end().catch(() => undefined);
  };
}
