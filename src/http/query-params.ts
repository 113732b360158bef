import type { Request } from 'express';
import { LedgerError } from '../errors.ts';

/**
 * The one paging range of every list: `limit` from 1 to {@link MAX_LIMIT}, {@link DEFAULT_LIMIT}
 * when absent (docs/api.md, Conventions).
 */
export const DEFAULT_LIMIT = 100;
export const MAX_LIMIT = 1000;

/** A request's query, every parameter known to the route and given at most once. */
export type Query = Readonly<Record<string, string | undefined>>;

/**
 * `INVALID_ARGUMENT` about one query parameter. Every refusal of a parameter has this details
 * shape: `parameter` names it, `value` is what was sent (absent for an unknown one), `allowed`
 * lists the accepted names or values where a list says more than the message.
 */
export function invalidParameter(
  parameter: string,
  message: string,
  extra: { value?: unknown; allowed?: readonly unknown[] } = {},
): LedgerError {
  return new LedgerError('INVALID_ARGUMENT', message, { parameter, ...extra });
}

/**
 * The query of `req`, after refusing any parameter not in `allowed` (a misspelt filter must not
 * silently widen a read) and any given more than once (which of two values counts is not
 * guessed). The app's simple query parser turns a repeated name into an array, and nothing else.
 */
export function queryParams(req: Request, allowed: readonly string[]): Query {
  const query = req.query as Record<string, unknown>;
  for (const [name, value] of Object.entries(query)) {
    if (!allowed.includes(name)) {
      throw invalidParameter(name, `Unknown query parameter ${name}.`, { allowed });
    }
    if (typeof value !== 'string') {
      throw invalidParameter(name, `${name} must be given at most once.`, { value });
    }
  }
  return query as Query;
}

/** A non-negative integer parameter (at most `max`), or `fallback` when absent. */
export function intParam(
  query: Query,
  name: string,
  fallback: number,
  max = Number.MAX_SAFE_INTEGER,
): number {
  const value = query[name];
  if (value === undefined) return fallback;
  if (!/^\d{1,16}$/.test(value) || Number(value) > max) {
    throw invalidParameter(name, `${name} must be an integer from 0 to ${max}.`, { value });
  }
  return Number(value);
}

/** `limit`: 1 to {@link MAX_LIMIT}, {@link DEFAULT_LIMIT} when absent. */
export function limitParam(query: Query): number {
  const value = query.limit;
  if (value === undefined) return DEFAULT_LIMIT;
  const limit = /^\d{1,5}$/.test(value) ? Number(value) : 0;
  if (limit < 1 || limit > MAX_LIMIT) {
    throw invalidParameter('limit', `limit must be an integer from 1 to ${MAX_LIMIT}.`, { value });
  }
  return limit;
}

/**
 * A position-like cursor (a log position, a stream revision): `cursor`, or the route's older
 * name for it (`legacy`, kept working), never both. Undefined when neither is given.
 */
export function positionCursor(
  query: Query,
  legacy: string,
): { value: number; legacy: boolean } | undefined {
  if (query.cursor !== undefined && query[legacy] !== undefined) {
    throw invalidParameter(legacy, `Give cursor or ${legacy}, not both.`, {
      value: query[legacy],
    });
  }
  const name = query.cursor === undefined ? legacy : 'cursor';
  if (query[name] === undefined) return undefined;
  return { value: intParam(query, name, 0), legacy: name === legacy };
}
