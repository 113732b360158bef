import type { ErrorCode } from '../../errors.ts';
import { isTimeout } from './translate-error.ts';

/** Why PostgreSQL could not be reached or refused us, as one line that says what to fix. */
export interface ConnectFailure {
  /** STORE_UNAVAILABLE when the server is not there; CONFIGURATION_INVALID when the URL is wrong. */
  code: ErrorCode;
  message: string;
}

/** Errno codes of a host name that does not resolve. */
const UNKNOWN_HOST = new Set(['ENOTFOUND', 'EAI_AGAIN', 'EAI_NONAME']);
/** Errno codes of a host that cannot be reached at all. */
const UNREACHABLE = new Set(['EHOSTUNREACH', 'ENETUNREACH', 'ETIMEDOUT', 'ECONNRESET']);

/**
 * Explains a failure to connect to the PostgreSQL that `url` names, or undefined when `error` is
 * not a connection failure (a statement that failed on a working connection). `variable` is the
 * setting that holds the URL, named in the advice. The URL is shown with its password masked;
 * nothing of the password is ever part of the message.
 *
 * pg reports network failures by errno (ECONNREFUSED, ENOTFOUND) and the server's refusals by
 * SQLSTATE: 28P01 a wrong password, 28000 a role the server does not know (or pg_hba.conf does
 * not admit), 3D000 a database that does not exist.
 */
export function describeConnectFailure(
  error: unknown,
  url: string,
  variable: string,
): ConnectFailure | undefined {
  const target = connectionTarget(url);
  const shown = `${variable}=${target.masked}`;
  const code = errorCode(error);
  const serverMessage = messageOf(error);
  if (code === 'ECONNREFUSED') {
    return {
      code: 'STORE_UNAVAILABLE',
      message: `PostgreSQL at ${target.address} refused the connection (ECONNREFUSED): start it there, or point ${shown} at a running server.`,
    };
  }
  if (code !== undefined && UNKNOWN_HOST.has(code)) {
    return {
      code: 'CONFIGURATION_INVALID',
      message: `The host "${target.hostname}" is not known (${code}): fix the host in ${shown}.`,
    };
  }
  if (code !== undefined && UNREACHABLE.has(code)) {
    return {
      code: 'STORE_UNAVAILABLE',
      message: `PostgreSQL at ${target.address} cannot be reached (${code}): check the network and the host in ${shown}.`,
    };
  }
  if (code === '28P01') {
    const role = quoted(serverMessage) ?? target.user;
    return {
      code: 'CONFIGURATION_INVALID',
      message: `PostgreSQL at ${target.address} refused the password of role "${role}" (28P01): fix the password in ${shown}.`,
    };
  }
  if (code === '28000') {
    const missingRole = /role "([^"]*)" does not exist/.exec(serverMessage)?.[1];
    return {
      code: 'CONFIGURATION_INVALID',
      message:
        missingRole !== undefined
          ? `Role "${missingRole}" does not exist on PostgreSQL at ${target.address} (28000): create it (createuser -h ${target.hostname} -p ${target.port} ${missingRole}) or fix the user in ${shown}.`
          : `PostgreSQL at ${target.address} refused role "${target.user}" (28000: ${serverMessage}): allow it in pg_hba.conf or fix the user in ${shown}.`,
    };
  }
  if (code === '3D000') {
    const database = quoted(serverMessage) ?? target.database;
    return {
      code: 'CONFIGURATION_INVALID',
      message: `Database "${database}" does not exist on PostgreSQL at ${target.address} (3D000): create it (createdb -h ${target.hostname} -p ${target.port} ${database}) or fix the database in ${shown}.`,
    };
  }
  if (isTimeout(error) && /connect|timeout expired/i.test(serverMessage)) {
    return {
      code: 'STORE_UNAVAILABLE',
      message: `PostgreSQL at ${target.address} did not answer in time: check that it is up and the host in ${shown} (LEDGER_STORE_TIMEOUT_MS bounds the wait).`,
    };
  }
  return undefined;
}

interface ConnectionTarget {
  masked: string;
  hostname: string;
  port: string;
  address: string;
  user: string;
  database: string;
}

/** Where `url` points, by libpq's defaults when a part is left out. */
function connectionTarget(url: string): ConnectionTarget {
  let parsed: URL | undefined;
  try {
    parsed = new URL(url);
  } catch {
    parsed = undefined;
  }
  const hostname = parsed?.hostname || 'localhost';
  const port = parsed?.port || '5432';
  const user = decodeURIComponent(parsed?.username ?? '') || process.env.PGUSER || '(default)';
  const database = decodeURIComponent(parsed?.pathname.slice(1) ?? '') || user;
  if (parsed !== undefined && parsed.password !== '') parsed.password = '***';
  const masked = parsed === undefined ? '(unparsable URL)' : parsed.toString();
  return {
    masked,
    hostname,
    port,
    address: `${hostname}:${port}`,
    user,
    database,
  };
}

/** The errno or SQLSTATE of `error` or of the first error it wraps that has one. */
function errorCode(error: unknown): string | undefined {
  for (let e: unknown = error, depth = 0; e !== undefined && depth < 5; depth += 1) {
    if (typeof e !== 'object' || e === null) return undefined;
    const { code, errors, cause } = e as { code?: unknown; errors?: unknown; cause?: unknown };
    if (typeof code === 'string') return code;
    // Node reports a host name that resolves to several addresses (localhost: ::1 and
    // 127.0.0.1) as an AggregateError of one failure per address.
    e = Array.isArray(errors) ? errors[0] : cause;
  }
  return undefined;
}

function messageOf(error: unknown): string {
  return error instanceof Error ? error.message.replace(/\s*[\r\n]+\s*/g, ' ') : String(error);
}

/** The first double-quoted name in a server message (`password authentication failed for user "x"`). */
function quoted(message: string): string | undefined {
  return /"([^"]*)"/.exec(message)?.[1];
}
