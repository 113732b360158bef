/**
 * The one namespace of stable error codes. Every failure that crosses a module boundary carries
 * one of these; the HTTP layer maps each code to a status exactly once, and docs/errors.md lists
 * them all (a test fails when one is missing).
 *
 * Expected business outcomes (a rejected callback) are events, not errors; these codes are for
 * broken preconditions, conflicts and infrastructure faults.
 */
export const errorCodes = {
  /** The caller's expected stream revision did not match the stream's actual revision. */
  EXPECTED_REVISION_CONFLICT: 'The stream is not at the expected revision.',
  /** An idempotency key was reused for a different event, or only part of an append was a retry. */
  IDEMPOTENCY_KEY_REUSED: 'The idempotency key was already used for different content.',
  /** An event's serialized size exceeds the store's configured limit. */
  EVENT_TOO_LARGE: 'The event is larger than the configured limit.',
  /** An append or read was malformed (empty stream name, duplicate keys in one append, ...). */
  INVALID_ARGUMENT: 'The request to the store was malformed.',
  /** The global log has a hole or an event out of order: it was altered outside the ledger. */
  LOG_INTEGRITY_VIOLATION: 'The event log is not intact.',
  /** The store is unreachable or failed in a way the caller cannot fix. */
  STORE_UNAVAILABLE: 'The event store is unavailable.',
  /** The store has been closed. */
  STORE_CLOSED: 'The event store has been closed.',
  /** The store URL or configuration is invalid. */
  CONFIGURATION_INVALID: 'The configuration is invalid.',
} as const;

export type ErrorCode = keyof typeof errorCodes;

/** An error with a stable code from {@link errorCodes} and structured, loggable details. */
export class LedgerError extends Error {
  override readonly name = 'LedgerError';

  constructor(
    readonly code: ErrorCode,
    message: string = errorCodes[code],
    readonly details: Record<string, unknown> = {},
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }
}

/** True when `error` is a {@link LedgerError}, optionally with the given code. */
export function isLedgerError(error: unknown, code?: ErrorCode): error is LedgerError {
  return error instanceof LedgerError && (code === undefined || error.code === code);
}
