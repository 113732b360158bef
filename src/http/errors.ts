import type { ErrorRequestHandler } from 'express';
import { LedgerError, isLedgerError, type ErrorCode } from '../errors.ts';
import type { Logger } from '../logger.ts';
import { errorStatus } from './error-status.ts';
import type { ErrorBody } from './response-schemas/index.ts';
import { pastDeadline } from './request-deadline.ts';
import { sendError } from './send-error.ts';

export { sendError };

/** Codes for the client-error statuses that express and body-parser set on their errors. */
const clientErrorCodes: Partial<Record<number, ErrorCode>> = {
  413: 'PAYLOAD_TOO_LARGE',
  415: 'UNSUPPORTED_MEDIA_TYPE',
};

/**
 * A ledger error for an error that carries a 4xx `status` or `statusCode` (express, body-parser
 * and http-errors mark the client's faults so), or undefined for anything else. A 4xx without a
 * code of its own is BAD_REQUEST; the status it carried is kept in `details.status`.
 */
function fromClientError(error: unknown): LedgerError | undefined {
  if (typeof error !== 'object' || error === null) return undefined;
  const { status, statusCode } = error as { status?: unknown; statusCode?: unknown };
  const code = typeof status === 'number' ? status : statusCode;
  if (typeof code !== 'number' || !Number.isInteger(code) || code < 400 || code > 499) {
    return undefined;
  }
  const known = clientErrorCodes[code];
  if (known !== undefined) return new LedgerError(known);
  return new LedgerError('BAD_REQUEST', 'The request is malformed.', { status: code });
}

/**
 * The express error middleware: ledger errors keep their code; errors marked as the client's
 * fault (a 4xx `status`) get a client-error code; anything else is logged and answered as a 500
 * without internals. Express 5 routes async handler rejections here too.
 */
export function errorMiddleware(logger: Logger): ErrorRequestHandler {
  return (error: unknown, _req, res, next) => {
    if (res.headersSent) {
      // The request was answered DEADLINE_EXCEEDED; its handler finished later and found the
      // answer sent. Its outcome is in the store for the client's retry to learn.
      if (pastDeadline(res)) {
        logger.debug({ err: error }, 'request finished after its deadline was answered');
        return;
      }
      next(error);
      return;
    }
    if (isLedgerError(error)) {
      if (errorStatus[error.code] >= 500)
        logger.error({ err: error, code: error.code }, error.message);
      sendError(res, error);
      return;
    }
    const clientError = fromClientError(error);
    if (clientError !== undefined) {
      logger.debug({ err: error, code: clientError.code }, clientError.message);
      sendError(res, clientError);
      return;
    }
    logger.error({ err: error }, 'unhandled error');
    res.status(500).json({
      error: { code: 'INTERNAL', message: 'Internal error.', details: {} },
    } satisfies ErrorBody);
  };
}
