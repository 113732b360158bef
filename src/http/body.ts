import express, { type ErrorRequestHandler, type RequestHandler } from 'express';
import { LedgerError } from '../errors.ts';

/** 256 KiB: far above any real Mission Envelope, far below what could exhaust memory. */
export const DEFAULT_BODY_LIMIT = 256 * 1024;

/** Keys that could reach an object's prototype if the body were ever merged into another object. */
const FORBIDDEN_KEYS = new Set(['__proto__', 'constructor', 'prototype']);

/** Deeper than any real payload; deep enough bodies would exhaust the stack of JSON.stringify. */
export const MAX_BODY_DEPTH = 64;

/**
 * Walks a parsed body without recursion (so depth itself cannot overflow the stack), failing at
 * the first prototype-polluting key or at a nesting deeper than MAX_BODY_DEPTH.
 */
function inspectBody(body: unknown): LedgerError | undefined {
  const stack: { value: unknown; path: string; depth: number }[] = [
    { value: body, path: '$', depth: 0 },
  ];
  while (stack.length > 0) {
    const { value, path, depth } = stack.pop()!;
    if (typeof value !== 'object' || value === null) continue;
    if (depth >= MAX_BODY_DEPTH) {
      return new LedgerError(
        'NESTING_TOO_DEEP',
        `The body nests deeper than ${MAX_BODY_DEPTH} levels.`,
        {
          limit: MAX_BODY_DEPTH,
        },
      );
    }
    if (Array.isArray(value)) {
      value.forEach((item, i) =>
        stack.push({ value: item, path: `${path}[${i}]`, depth: depth + 1 }),
      );
      continue;
    }
    for (const key of Object.keys(value)) {
      if (FORBIDDEN_KEYS.has(key)) {
        return new LedgerError('FORBIDDEN_KEY', `The body has a forbidden key at ${path}.${key}.`, {
          path: `${path}.${key}`,
        });
      }
      stack.push({
        value: (value as Record<string, unknown>)[key],
        path: `${path}.${key}`,
        depth: depth + 1,
      });
    }
  }
  return undefined;
}

/**
 * JSON request bodies, strictly: `Content-Type: application/json` is required (415 otherwise),
 * bodies over `limit` bytes are 413, malformed JSON is 400, and keys that could pollute a
 * prototype, or nesting deeper than MAX_BODY_DEPTH, are refused (400) before any handler sees them.
 */
export function jsonBody(limit: number): RequestHandler[] {
  const requireJson: RequestHandler = (req, _res, next) => {
    if (!req.is('application/json')) {
      throw new LedgerError('UNSUPPORTED_MEDIA_TYPE', 'The body must be application/json.', {
        content_type: req.headers['content-type'] ?? null,
      });
    }
    next();
  };
  const inspect: RequestHandler = (req, _res, next) => {
    const problem = inspectBody(req.body);
    if (problem !== undefined) throw problem;
    next();
  };
  return [requireJson, express.json({ limit, strict: true, type: 'application/json' }), inspect];
}

/** Translates body-parser's errors into the ledger's codes; the request never reaches a handler. */
export const bodyErrors: ErrorRequestHandler = (error: unknown, _req, _res, next) => {
  const type =
    typeof error === 'object' && error !== null ? (error as { type?: unknown }).type : undefined;
  switch (type) {
    case 'entity.too.large': {
      const { length, limit } = error as { length?: number; limit?: number };
      next(
        new LedgerError('PAYLOAD_TOO_LARGE', `The body is larger than ${limit} bytes.`, {
          length,
          limit,
        }),
      );
      return;
    }
    case 'entity.parse.failed':
      next(new LedgerError('MALFORMED_JSON', 'The body is not valid JSON.'));
      return;
    case 'charset.unsupported':
    case 'encoding.unsupported':
      next(new LedgerError('UNSUPPORTED_MEDIA_TYPE', 'The body encoding is not supported.'));
      return;
    case 'request.aborted':
    case 'request.size.invalid':
    case 'stream.encoding.set':
      next(new LedgerError('MALFORMED_JSON', 'The body could not be read.'));
      return;
    default:
      next(error);
  }
};
