import type { RequestHandler } from 'express';
import { LedgerError } from '../errors.ts';

/** Percent-decodes `text`, or undefined when it is not valid percent-encoded UTF-8. */
function decoded(text: string): string | undefined {
  try {
    return decodeURIComponent(text);
  } catch {
    return undefined;
  }
}

/** Why `raw` (a path or a query parameter's name or value) cannot be used, or undefined. */
function problem(raw: string): string | undefined {
  const text = decoded(raw);
  if (text === undefined) return 'is not valid percent-encoded UTF-8';
  // No store can hold U+0000 in text, and no id, cursor or parameter of the API contains one.
  if (text.includes('\0')) return 'holds a NUL character (%00)';
  return undefined;
}

/**
 * Refuses, before any route runs, a request target whose path or query does not decode: a `%`
 * sequence that is not percent-encoded UTF-8 (express would throw on it in a path id, and the
 * query parser would replace its bytes with U+FFFD), or a `%00` that decodes to NUL. Both are
 * `400 INVALID_ARGUMENT` naming the path or the parameter; nothing reaches the ledger.
 */
export const requireDecodableTarget: RequestHandler = (req, _res, next) => {
  const query = req.url.indexOf('?');
  const path = query === -1 ? req.url : req.url.slice(0, query);
  const pathProblem = problem(path);
  if (pathProblem !== undefined) {
    throw new LedgerError('INVALID_ARGUMENT', `The path ${pathProblem}.`, { path });
  }
  if (query === -1) {
    next();
    return;
  }
  for (const pair of req.url.slice(query + 1).split('&')) {
    const equals = pair.indexOf('=');
    const name = equals === -1 ? pair : pair.slice(0, equals);
    const pairProblem =
      problem(name) ?? (equals === -1 ? undefined : problem(pair.slice(equals + 1)));
    if (pairProblem !== undefined) {
      const shown = decoded(name) ?? name;
      throw new LedgerError(
        'INVALID_ARGUMENT',
        `Query parameter ${JSON.stringify(shown)} ${pairProblem}.`,
        { parameter: shown },
      );
    }
  }
  next();
};
