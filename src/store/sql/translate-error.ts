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
