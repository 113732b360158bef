import type { RequestHandler, Response } from 'express';
import { LedgerError } from '../errors.ts';
import { sendError } from './send-error.ts';

/** How long a request may take unless told otherwise (`LEDGER_REQUEST_TIMEOUT_MS`). */
export const DEFAULT_REQUEST_TIMEOUT_MS = 10_000;

/** Responses answered DEADLINE_EXCEEDED while their handler was still running. */
const answeredAtDeadline = new WeakSet<Response>();

/** True when `res` was answered DEADLINE_EXCEEDED before its handler finished. */
export function pastDeadline(res: Response): boolean {
  return answeredAtDeadline.has(res);
}

/**
 * Answers `503 DEADLINE_EXCEEDED` (with `Retry-After: 1`) to a request still unanswered after
 * `timeoutMs`, so a client never waits on a store that does not answer. The handler is not
 * stopped: work already sent to the store may still commit, which is why commands carry an
 * idempotency key, and a retry with the same key answers what happened. `skip` names requests
 * that are meant to stay open (the event stream).
 *
 * One timer per request, cleared when the response finishes or the client hangs up.
 */
export function requestDeadline(
  timeoutMs: number,
  skip: (path: string) => boolean = () => false,
): RequestHandler {
  return (req, res, next) => {
    if (skip(req.path)) {
      next();
      return;
    }
    const timer = setTimeout(() => {
      if (res.headersSent) return;
      answeredAtDeadline.add(res);
      sendError(
        res,
        new LedgerError(
          'DEADLINE_EXCEEDED',
          `The request did not finish within ${timeoutMs} ms; a write may still commit: retry with the same idempotency key to learn its outcome.`,
          { timeout_ms: timeoutMs },
        ),
      );
    }, timeoutMs);
    const clear = () => clearTimeout(timer);
    res.once('finish', clear);
    res.once('close', clear);
    next();
  };
}
