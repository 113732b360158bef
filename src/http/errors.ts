import type { ErrorRequestHandler, Response } from 'express';
import { LedgerError, isLedgerError } from '../errors.ts';
import type { Logger } from '../logger.ts';
import { errorStatus } from './error-status.ts';

/** The one error body: `{ error: { code, message, details } }`. */
export function sendError(res: Response, error: LedgerError): void {
  res.status(errorStatus[error.code]).json({
    error: { code: error.code, message: error.message, details: error.details },
  });
}

/**
 * The express error middleware: ledger errors keep their code; anything else is logged and
 * answered as a 500 without internals. Express 5 routes async handler rejections here too.
 */
export function errorMiddleware(logger: Logger): ErrorRequestHandler {
  return (error: unknown, _req, res, next) => {
    if (res.headersSent) {
      next(error);
      return;
    }
    if (isLedgerError(error)) {
      if (errorStatus[error.code] >= 500)
        logger.error({ err: error, code: error.code }, error.message);
      sendError(res, error);
      return;
    }
    logger.error({ err: error }, 'unhandled error');
    res.status(500).json({ error: { code: 'INTERNAL', message: 'Internal error.', details: {} } });
  };
}

/** Parses a non-negative integer query parameter, or fails with INVALID_ARGUMENT naming it. */
export function intParam(
  value: unknown,
  name: string,
  fallback: number,
  max = Number.MAX_SAFE_INTEGER,
): number {
  if (value === undefined) return fallback;
  if (typeof value !== 'string' || !/^\d+$/.test(value) || Number(value) > max) {
    throw new LedgerError('INVALID_ARGUMENT', `${name} must be an integer from 0 to ${max}.`, {
      [name]: value,
    });
  }
  return Number(value);
}
