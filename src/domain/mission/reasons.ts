import { errorCodes } from '../../errors.ts';

/**
 * The reason codes the mission decider gives for a rejected input, in the ledger's one error
 * namespace (`src/errors.ts`, where each has its default message; the HTTP layer maps each to a
 * status).
 */
export const missionReasonCodes = [
  'SCHEMA_INVALID',
  'MISSION_NOT_FOUND',
  'MISSION_EXISTS',
  'MISSION_CLOSED',
  'TRANSITION_ILLEGAL',
  'IDENTITY_MISMATCH',
  'TRACE_MISMATCH',
  'STATUS_MISMATCH',
  'FINAL_EVENT_INCOMPLETE',
  'USAGE_DECREASED',
  'FORBIDDEN_INSTANCE',
  'SIGNATURE_MISSING',
  'SIGNATURE_INVALID',
  'KEY_UNKNOWN',
  'KEY_NOT_VALID_AT',
  'KEY_REVOKED',
  'BUDGET_EXCEEDED',
  'OUTSIDE_AUTONOMY_WINDOW',
  'ARTIFACTS_MISSING',
  'INPUT_STALE',
] as const satisfies readonly (keyof typeof errorCodes)[];

/** A reason code of the mission decider. */
export type ReasonCode = (typeof missionReasonCodes)[number];

/**
 * Why an input was rejected: a stable code and a message for humans; a `SCHEMA_INVALID` reason
 * also lists where the input breaks the contract (answered, never stored: see {@link storedReasons}).
 */
export interface Reason {
  code: ReasonCode;
  message: string;
  issues?: readonly { path: string; message: string }[];
}

/** A {@link Reason}; the message defaults to the code's default message in `src/errors.ts`. */
export function reason(code: ReasonCode, message: string = errorCodes[code]): Reason {
  return { code, message };
}

/**
 * Reasons as a rejection event stores them: `{code, message}` only (`rejectionReasonSchema` is
 * strict), so the log keeps one shape however much an answer says.
 */
export function storedReasons(
  reasons: readonly { code: string; message: string }[],
): { code: string; message: string }[] {
  return reasons.map(({ code, message }) => ({ code, message }));
}
