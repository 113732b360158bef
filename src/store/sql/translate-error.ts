import { LedgerError, isLedgerError } from '../../errors.ts';

/** SQLSTATE classes and codes that mean "the database is not there", not "the request is wrong". */
const UNAVAILABLE_STATES = new Set(['57P01', '57P02', '57P03', '53300', '53400']);
const NETWORK_CODES = new Set([
  'ECONNREFUSED',
  'ECONNRESET',
  'ETIMEDOUT',
  'EPIPE',
  'ENOTFOUND',
  'EHOSTUNREACH',
]);

/**
 * SQLSTATEs of the deadlines the store sets: `statement_timeout` or a cancel (57014),
 * `lock_timeout` (55P03), `idle_in_transaction_session_timeout` (25P03).
 */
const TIMEOUT_STATES = new Set(['57014', '55P03', '25P03']);

/** pg's messages when a client-side deadline passes: a call's answer, a connection, a pool slot. */
const CLIENT_TIMEOUT_MESSAGES = [
  'Query read timeout',
  'timeout expired',
  'timeout exceeded when trying to connect',
  'Connection terminated due to connection timeout',
];

/**
 * True when `error` (a driver error, or the store error it was translated to) says a deadline
 * passed: the database did not answer in time, which is no fault of the statement itself.
 */
export function isTimeout(error: unknown): boolean {
  if (isLedgerError(error)) return error.details.timeout === true;
  const sqlstate = field(error, 'code');
  if (typeof sqlstate === 'string' && TIMEOUT_STATES.has(sqlstate)) return true;
  const message = error instanceof Error ? error.message : '';
  return CLIENT_TIMEOUT_MESSAGES.some((m) => message.includes(m));
}

function field(error: unknown, name: string): unknown {
  return typeof error === 'object' && error !== null
    ? (error as Record<string, unknown>)[name]
    : undefined;
}

/** A unique index refused a row: on the event log, an append that collides with what it holds. */
export function isUniqueViolation(error: unknown): boolean {
  return field(error, 'code') === '23505';
}

/**
 * Translates a pg or PGlite error into the store's own error, so no driver error type leaves
 * src/store. A unique violation can only come from a writer that bypassed the head lock (all of
 * ours take it), but it still maps to the conflict it signals rather than to a fault.
 */
export function translateSqlError(error: unknown): LedgerError {
  if (isLedgerError(error)) return error;
  const sqlstate = field(error, 'code');
  const message = error instanceof Error ? error.message : String(error);
  const details: Record<string, unknown> = { cause_message: message };
  if (typeof sqlstate === 'string') details.sqlstate = sqlstate;
  if (isTimeout(error)) {
    return new LedgerError(
      'STORE_UNAVAILABLE',
      'The event store did not answer in time.',
      { ...details, timeout: true },
      { cause: error },
    );
  }
  if (sqlstate === '23505') {
    const constraint = field(error, 'constraint');
    return constraint === 'events_stream_idempotency_key'
      ? new LedgerError('IDEMPOTENCY_KEY_REUSED', undefined, details, { cause: error })
      : new LedgerError(
          'EXPECTED_REVISION_CONFLICT',
          undefined,
          { ...details, constraint },
          { cause: error },
        );
  }
  if (
    typeof sqlstate === 'string' &&
    (sqlstate.startsWith('08') || UNAVAILABLE_STATES.has(sqlstate))
  ) {
    return new LedgerError('STORE_UNAVAILABLE', 'The event store is unreachable.', details, {
      cause: error,
    });
  }
  if (typeof sqlstate === 'string' && NETWORK_CODES.has(sqlstate)) {
    return new LedgerError('STORE_UNAVAILABLE', 'The event store is unreachable.', details, {
      cause: error,
    });
  }
  return new LedgerError('STORE_UNAVAILABLE', 'The event store failed.', details, { cause: error });
}
