import type { Response } from 'express';
import type { LedgerError } from '../errors.ts';
import { errorStatus } from './error-status.ts';
import type { ErrorBody } from './response-schemas/index.ts';

/** The one error body: `{ error: { code, message, details } }`. */
export function sendError(res: Response, error: LedgerError): void {
  const retryAfter = error.details.retry_after_seconds;
  if (typeof retryAfter === 'number') res.setHeader('Retry-After', String(retryAfter));
  // Every 503 is a moment's unavailability (store, deadline, projection): say when to retry.
  else if (errorStatus[error.code] === 503) res.setHeader('Retry-After', '1');
  res.status(errorStatus[error.code]).json({
    error: { code: error.code, message: error.message, details: error.details },
  } satisfies ErrorBody);
}
