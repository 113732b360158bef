import { createHash } from 'node:crypto';

/*
 * What a read-model table stores for what it cannot hold. `jsonb` and `text` refuse U+0000, and a
 * btree index entry holds at most 2704 bytes, yet the log (a `json` column) holds any string an
 * event carried. Every row write goes through {@link storedRowJson} and {@link storedKey}
 * (`stagedRowWrites`), so live serving, rebuilds and verification store the same bytes; every read
 * decodes, so the folds and the API see exactly what the log holds.
 *
 * The rule, within every string of a row (values and object keys) and within row keys:
 *
 * - U+0000 is stored as U+0081 followed by `0`, and U+0081 itself as U+0081 followed by `1` (a
 *   prefix code, so decoding is exact). Either pair is 3 UTF-8 bytes, no more than any other
 *   UTF-16 unit, so a stored string never takes more than 3 bytes per unit of the original.
 * - A row key whose stored form is longer than {@link MAX_STORED_KEY_BYTES} is stored as a prefix
 *   of that form (never splitting a pair), U+0081, `2`, and the SHA-256 of the whole key in hex.
 *   No other stored key contains U+0081 followed by `2`, so keys stay distinct. Such a key cannot be
 *   decoded; rows carry their key columns, and lookups encode the key they look for.
 */

/** The escape character: a C1 control no text should hold, two UTF-8 bytes. */
const ESCAPE = '\u0081';
const NUL = '\u0000';
/** Longest stored row key in UTF-8 bytes: leaves room for the indexed columns beside it. */
export const MAX_STORED_KEY_BYTES = 768;
const DIGEST_MARK = `${ESCAPE}2`;
/** Bytes of a long key's prefix: the rest is the mark (3 bytes) and the digest (64). */
const PREFIX_BYTES = MAX_STORED_KEY_BYTES - 3 - 64;

/** A string as stored: U+0000 and U+0081 escaped. */
export function storedText(text: string): string {
  if (text.indexOf(NUL) === -1 && text.indexOf(ESCAPE) === -1) return text;
  // eslint-disable-next-line no-control-regex
  return text.replace(/[\u0000\u0081]/g, (c) => (c === NUL ? `${ESCAPE}0` : `${ESCAPE}1`));
}

/** The string a stored one stands for (the inverse of {@link storedText}). */
export function decodedText(text: string): string {
  if (text.indexOf(ESCAPE) === -1) return text;
  return text.replace(/\u0081([01])/g, (_, code) => (code === '0' ? NUL : ESCAPE));
}

/**
 * The JSON text of a row as stored: {@link storedText} applied to every string in `json` (the
 * output of `JSON.stringify`, which writes U+0000 as the escape `\u0000` and U+0081 as itself).
 * Returns `json` itself when neither occurs, which is nearly always.
 */
export function storedRowJson(json: string): string {
  if (json.indexOf('\\u0000') === -1 && json.indexOf(ESCAPE) === -1) return json;
  // Escape sequences are consumed whole, so `\\u0000` (a backslash, then "u0000") stays as it is.
  return json.replace(/\\u0000|\\[^]|\u0081/g, (match) =>
    match === '\\u0000' ? `${ESCAPE}0` : match === ESCAPE ? `${ESCAPE}1` : match,
  );
}

/**
 * The JSON array of `upserts` (keys already {@link storedKey}, rows as the fold made them) as
 * stored: one `JSON.stringify` and two scans when no string holds U+0000 or the escape character;
 * otherwise each row's text rewritten by {@link storedRowJson} (a stored key may hold the escape
 * character, which must stay as it is).
 */
export function storedUpsertsJson(upserts: readonly { key: string; row: unknown }[]): string {
  const json = JSON.stringify(upserts);
  if (json.indexOf('\\u0000') === -1 && json.indexOf(ESCAPE) === -1) return json;
  const parts = upserts.map(
    ({ key, row }) => `{"key":${JSON.stringify(key)},"row":${storedRowJson(JSON.stringify(row))}}`,
  );
  return `[${parts.join(',')}]`;
}

/** A row key as stored: {@link storedText}, then bounded to {@link MAX_STORED_KEY_BYTES}. */
export function storedKey(key: string): string {
  // Three bytes per UTF-16 unit at most, escaped or not: short keys need no counting.
  const stored = storedText(key);
  if (stored.length * 3 <= MAX_STORED_KEY_BYTES) return stored;
  if (Buffer.byteLength(stored) <= MAX_STORED_KEY_BYTES) return stored;
  const digest = createHash('sha256').update(key).digest('hex');
  return `${stored.slice(0, prefixLength(stored))}${DIGEST_MARK}${digest}`;
}

/** The key a stored key stands for; `undefined` for a long key stored as a digest. */
export function decodedKey(stored: string): string | undefined {
  return stored.includes(DIGEST_MARK) ? undefined : decodedText(stored);
}

/** `value` (a row as read back) with every string decoded; `value` itself when none needs it. */
export function decodedValue<T>(value: T): T {
  return needsDecoding(value) ? (decodeDeep(value) as T) : value;
}

/** Parses a row's stored JSON text (`row::text`) and decodes it. */
export function parseStoredRow(text: string): unknown {
  const value: unknown = JSON.parse(text);
  return text.indexOf(ESCAPE) === -1 ? value : decodeDeep(value);
}

function needsDecoding(value: unknown): boolean {
  if (typeof value === 'string') return value.indexOf(ESCAPE) !== -1;
  if (typeof value !== 'object' || value === null) return false;
  if (Array.isArray(value)) return value.some(needsDecoding);
  for (const key of Object.keys(value)) {
    if (key.indexOf(ESCAPE) !== -1 || needsDecoding((value as Record<string, unknown>)[key])) {
      return true;
    }
  }
  return false;
}

function decodeDeep(value: unknown): unknown {
  if (typeof value === 'string') return decodedText(value);
  if (typeof value !== 'object' || value === null) return value;
  if (Array.isArray(value)) return value.map(decodeDeep);
  const out: Record<string, unknown> = {};
  for (const [key, item] of Object.entries(value)) {
    // Defined, not assigned: a key `__proto__` (JSON.parse makes it an own property) stays data.
    Object.defineProperty(out, decodedText(key), {
      value: decodeDeep(item),
      enumerable: true,
      writable: true,
      configurable: true,
    });
  }
  return out;
}

/** Units of `stored` that fit {@link PREFIX_BYTES} without splitting a pair or a surrogate pair. */
function prefixLength(stored: string): number {
  let bytes = 0;
  let i = 0;
  while (i < stored.length) {
    const c = stored.charCodeAt(i);
    const [units, size] =
      c === 0x81
        ? [2, 3]
        : c < 0x80
          ? [1, 1]
          : c < 0x800
            ? [1, 2]
            : c >= 0xd800 && c <= 0xdbff
              ? [2, 4]
              : [1, 3];
    if (bytes + size > PREFIX_BYTES) break;
    bytes += size;
    i += units;
  }
  return i;
}
