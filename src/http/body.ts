import { MIMEType } from 'node:util';
import express, { type ErrorRequestHandler, type Request, type RequestHandler } from 'express';
import { DEFAULT_BODY_LIMIT } from '../defaults.ts';
import { LedgerError, isLedgerError } from '../errors.ts';

export { DEFAULT_BODY_LIMIT };

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

/** Content codings accepted on a body: the three that body-parser inflates, and none. */
const CONTENT_CODINGS = new Set(['identity', 'gzip', 'deflate', 'br']);

/** JSON's insignificant whitespace (RFC 8259 §2); nothing else makes a body blank. */
const JSON_WHITESPACE_ONLY = /^[ \t\n\r]*$/;

/** Decodes UTF-8 or throws: a malformed byte is refused, never replaced with U+FFFD. */
const utf8 = new TextDecoder('utf-8', { fatal: true });

/** The request's Content-Encoding, lower-cased; `identity` when absent. */
function contentCoding(req: Request): string {
  return (req.headers['content-encoding'] ?? 'identity').trim().toLowerCase();
}

/**
 * The media type and coding checks, before any byte is read: `application/json`, in UTF-8 only
 * (RFC 8259 §8.1: a `charset` other than utf-8 is refused, since the bytes are decoded as UTF-8
 * whatever the header says), in one of CONTENT_CODINGS.
 */
function checkHeaders(req: Request): void {
  const header = req.headers['content-type'];
  let type: MIMEType | undefined;
  try {
    type = header === undefined ? undefined : new MIMEType(header);
  } catch {
    type = undefined;
  }
  if (type?.essence !== 'application/json') {
    throw new LedgerError('UNSUPPORTED_MEDIA_TYPE', 'The body must be application/json.', {
      content_type: header ?? null,
    });
  }
  const charset = type.params.get('charset');
  if (charset !== null && charset.toLowerCase() !== 'utf-8') {
    throw new LedgerError(
      'UNSUPPORTED_MEDIA_TYPE',
      `The body must be UTF-8 JSON; charset ${JSON.stringify(charset)} is not supported.`,
      { charset },
    );
  }
  const coding = contentCoding(req);
  if (!CONTENT_CODINGS.has(coding)) {
    throw new LedgerError(
      'UNSUPPORTED_MEDIA_TYPE',
      `Content-Encoding ${JSON.stringify(coding)} is not supported; use gzip, deflate, br or none.`,
      { content_encoding: coding },
    );
  }
}

/**
 * The body's bytes as a JSON object or array, or the error that refuses them. Absent, empty and
 * blank bodies are refused as such rather than read as `{}`.
 */
function parseBody(bytes: unknown): unknown {
  const raw = Buffer.isBuffer(bytes) ? bytes : Buffer.alloc(0);
  let text: string;
  try {
    text = utf8.decode(raw);
  } catch {
    throw new LedgerError('MALFORMED_UTF8', 'The body is not valid UTF-8.');
  }
  if (JSON_WHITESPACE_ONLY.test(text)) {
    throw new LedgerError('BODY_EMPTY', 'The body is empty; send a JSON object.');
  }
  let body: unknown;
  try {
    body = JSON.parse(text);
  } catch {
    throw new LedgerError('MALFORMED_JSON', 'The body is not valid JSON.');
  }
  if (typeof body !== 'object' || body === null) {
    throw new LedgerError('MALFORMED_JSON', 'The body must be a JSON object or array.');
  }
  return body;
}

/**
 * Translates the read step's errors into the ledger's codes, so the request never reaches a
 * handler. It sits in the route right after the read, so every error without a body-parser `type`
 * that reaches it with a Content-Encoding other than identity is the inflating stream's (zlib and
 * brotli report corrupt or truncated data that way); raw-body types all of its own.
 */
const readErrors: ErrorRequestHandler = (error: unknown, req, _res, next) => {
  if (isLedgerError(error) || typeof error !== 'object' || error === null) {
    next(error);
    return;
  }
  const { type } = error as { type?: unknown };
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
    case 'request.aborted':
    case 'request.size.invalid':
      next(new LedgerError('MALFORMED_JSON', 'The body could not be read.'));
      return;
    case undefined:
      if (contentCoding(req) !== 'identity') {
        next(
          new LedgerError(
            'MALFORMED_CONTENT_ENCODING',
            `The body is not valid ${contentCoding(req)} data.`,
            { content_encoding: contentCoding(req) },
          ),
        );
        return;
      }
      next(error);
      return;
    default:
      next(error);
  }
};

/**
 * JSON request bodies, strictly: `Content-Type: application/json` in UTF-8 is required (415
 * otherwise, as is a Content-Encoding other than gzip, deflate or br), bodies over `limit` bytes
 * once inflated are 413, and bodies that are empty, not UTF-8, not a JSON object or array, hold
 * keys that could pollute a prototype or nest deeper than MAX_BODY_DEPTH are 400. All of it
 * happens before any handler sees the body.
 */
export function jsonBody(limit: number): (RequestHandler | ErrorRequestHandler)[] {
  const requireJson: RequestHandler = (req, _res, next) => {
    checkHeaders(req);
    next();
  };
  // The bytes are read raw (inflated, limited) and decoded here, so no charset the header names
  // can pick the decoder and no malformed byte is silently replaced.
  const read = express.raw({ limit, type: () => true });
  const parse: RequestHandler = (req, _res, next) => {
    const body = parseBody(req.body);
    const problem = inspectBody(body);
    if (problem !== undefined) throw problem;
    req.body = body;
    next();
  };
  return [requireJson, read, readErrors, parse];
}
