import express, { type ErrorRequestHandler, type RequestHandler } from 'express';
import { LedgerError } from '../errors.ts';

/** 256 KiB: far above any real Mission Envelope, far below what could exhaust memory. */
export const DEFAULT_BODY_LIMIT = 256 * 1024;

/** Keys that could reach an object's prototype if the body were ever merged into another object. */
const FORBIDDEN_KEYS = new Set(['__proto__', 'constructor', 'prototype']);

function findForbiddenKey(value: unknown, path: string): string | undefined {
  if (typeof value !== 'object' || value === null) return undefined;
  if (Array.isArray(value)) {
    for (let i = 0; i < value.length; i += 1) {
      const hit = findForbiddenKey(value[i], `${path}[${i}]`);
      if (hit !== undefined) return hit;
    }
    return undefined;
  }
  for (const key of Object.keys(value)) {
    if (FORBIDDEN_KEYS.has(key)) return `${path}.${key}`;
    const hit = findForbiddenKey((value as Record<string, unknown>)[key], `${path}.${key}`);
    if (hit !== undefined) return hit;
  }
  return undefined;
}

/**
 * JSON request bodies, strictly: `Content-Type: application/json` is required (415 otherwise),
 * bodies over `limit` bytes are 413, malformed JSON is 400, and keys that could pollute a
 * prototype are refused (400) before any handler sees them.
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
  const rejectForbiddenKeys: RequestHandler = (req, _res, next) => {
    const path = findForbiddenKey(req.body, '$');
    if (path !== undefined) {
      throw new LedgerError('FORBIDDEN_KEY', `The body has a forbidden key at ${path}.`, { path });
    }
    next();
  };
  return [
    requireJson,
    express.json({ limit, strict: true, type: 'application/json' }),
    rejectForbiddenKeys,
  ];
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
