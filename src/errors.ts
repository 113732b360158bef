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
  /**
   * The HTTP request did not finish within `LEDGER_REQUEST_TIMEOUT_MS`. A write may still commit
   * after this answer: a retry with the same idempotency key learns its outcome.
   */
  DEADLINE_EXCEEDED: 'The request did not finish in time.',
  /** The store has been closed. */
  STORE_CLOSED: 'The event store has been closed.',
  /** The store URL or configuration is invalid. */
  CONFIGURATION_INVALID: 'The configuration is invalid.',
  /** A payload does not match its contract schema (mission dispatch, lifecycle event, cancel). */
  SCHEMA_INVALID: 'The payload does not match the contract.',
  /** The mission has no accepted dispatch. */
  MISSION_NOT_FOUND: 'The mission does not exist.',
  /** A dispatch names a mission_id that already has a dispatch. */
  MISSION_EXISTS: 'The mission already has a dispatch.',
  /** The mission is closed: a final lifecycle event was already accepted. */
  MISSION_CLOSED: 'The mission is closed.',
  /** The lifecycle event is not allowed from the mission's current status. */
  TRANSITION_ILLEGAL: "The event is not allowed from the mission's current status.",
  /** A callback's mission_id, vp_id, vp_session_id or vp_runtime_id differs from the dispatch. */
  IDENTITY_MISMATCH: 'The identity does not match the dispatch.',
  /** A callback's trace_id differs from the dispatch's. */
  TRACE_MISMATCH: 'The trace_id does not match the dispatch.',
  /** A callback's event_type and status disagree. */
  STATUS_MISMATCH: 'The event_type and status disagree.',
  /** A final lifecycle event lacks artifact_index or a non-empty next_action. */
  FINAL_EVENT_INCOMPLETE: 'The final event lacks artifact_index or next_action.',
  /** A callback reports less usage than an earlier accepted one. */
  USAGE_DECREASED: 'The usage is lower than already reported.',
  /**
   * A factory posted for a mission dispatched to another instance. Recorded in
   * `ledger-rejections` for auditors; the sender is answered MISSION_NOT_FOUND.
   */
  FORBIDDEN_INSTANCE: 'The mission belongs to another factory instance.',
  /** A policy requires a signature on this input and it carries none (`Ledger-Signature`). */
  SIGNATURE_MISSING: 'The input is not signed.',
  /** The signature does not verify over the input's canonical bytes, or is malformed. */
  SIGNATURE_INVALID: 'The signature does not verify.',
  /** The signature names a key id the ledger has no registered key for (or of another owner). */
  KEY_UNKNOWN: 'The signing key is not registered.',
  /** The signing key's validity window does not cover the time the input was received. */
  KEY_NOT_VALID_AT: 'The signing key is not valid at the time of the input.',
  /** The signing key was revoked before the input was received. */
  KEY_REVOKED: 'The signing key is revoked.',
  /** A callback reports usage above the dispatch's budget for it. */
  BUDGET_EXCEEDED: 'The usage exceeds the dispatch budget.',
  /** A callback was emitted outside the dispatch's autonomy window. */
  OUTSIDE_AUTONOMY_WINDOW: 'The callback was emitted outside the autonomy window.',
  /** A completion lacks outputs the dispatch's artifact_policy requires in its artifact_index. */
  ARTIFACTS_MISSING: 'The completion lacks required outputs.',
  /** The input's emitted_at or created_at is further from its receive time than the profile allows. */
  INPUT_STALE: 'The input is too far from its receive time.',
  /** No signing key, policy profile or simulation job of that id. */
  NOT_FOUND: 'No such resource.',
  /** A key id or profile id that already exists, with different content. */
  ALREADY_EXISTS: 'A resource with that id already exists.',
  /** A policy profile is unsigned, badly signed, or not signed by a trusted key (production). */
  PROFILE_UNTRUSTED: 'The policy profile is not signed by a trusted key.',
  /** The sender made the ledger record too many rejections lately; retry after `Retry-After`. */
  RATE_LIMITED: 'Too many rejected inputs from this sender.',
  /** No `Authorization: Bearer` token, or an unknown one. Never recorded: nobody is identified. */
  UNAUTHENTICATED: 'A bearer token is required, or the token is not recognised.',
  /** The token's role may not use this route (an auditor dispatching, say). */
  FORBIDDEN: "The token's role may not use this route.",
  /** No route for this method and path. */
  ROUTE_NOT_FOUND: 'No such route.',
  /** The path is a route, but not for this method; the `Allow` header lists those it takes. */
  METHOD_NOT_ALLOWED: 'This route does not take that method.',
  /** No VP session registry record for that (vp_id, vp_session_id). */
  VP_SESSION_NOT_FOUND: 'No such VP session.',
  /** The body is not valid JSON (or could not be read); nothing is appended. */
  MALFORMED_JSON: 'The body is not valid JSON.',
  /** The body holds a `__proto__`, `constructor` or `prototype` key at any depth. */
  FORBIDDEN_KEY: 'The body holds a forbidden key.',
  /** The body nests deeper than 64 levels; nothing is appended. */
  NESTING_TOO_DEEP: 'The body nests too deeply.',
  /** The body exceeds `LEDGER_BODY_LIMIT` (default 256 KiB). */
  PAYLOAD_TOO_LARGE: 'The body is larger than the configured limit.',
  /** A POST without `Content-Type: application/json`, with a charset other than UTF-8, or an unknown Content-Encoding. */
  UNSUPPORTED_MEDIA_TYPE: 'The body must be application/json.',
  /** The body is absent, empty or only whitespace; nothing is appended. */
  BODY_EMPTY: 'The body is empty.',
  /** The body's bytes are not valid UTF-8 (refused, never replaced with U+FFFD). */
  MALFORMED_UTF8: 'The body is not valid UTF-8.',
  /** The body does not decompress as its Content-Encoding (gzip, deflate, br) says. */
  MALFORMED_CONTENT_ENCODING: 'The body does not decompress as its Content-Encoding says.',
  /** An express or body-parser client error (4xx) that has no more specific code. */
  BAD_REQUEST: 'The request is malformed.',
  /** No projection of that name (`ledger projections rebuild NAME`). */
  PROJECTION_NOT_FOUND: 'No such projection.',
  /** A read's `min_position` was not reached by the projection in time; retry later. */
  PROJECTION_LAGGING: 'The read model has not reached the requested position yet.',
  /** The projection stopped on an event it cannot apply (parked) or on a version change. */
  PROJECTION_STALLED: 'The read model is stalled.',
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
