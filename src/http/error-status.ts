import type { ErrorCode } from '../errors.ts';

/**
 * Every error code's HTTP status, exactly once. A Record over ErrorCode, so adding a code
 * without a status does not compile.
 */
export const errorStatus: Record<ErrorCode, number> = {
  EXPECTED_REVISION_CONFLICT: 409,
  IDEMPOTENCY_KEY_REUSED: 409,
  EVENT_TOO_LARGE: 413,
  INVALID_ARGUMENT: 400,
  LOG_INTEGRITY_VIOLATION: 500,
  STORE_UNAVAILABLE: 503,
  STORE_CLOSED: 503,
  CONFIGURATION_INVALID: 500,
};
