import { createHash } from 'node:crypto';
import canonicalizeModule from 'canonicalize';

/*
 * RFC 8785 (JSON Canonicalization Scheme) through the reference package by the RFC's authors.
 * It ships CommonJS (`module.exports = fn`) with an ESM-style declaration file, so under NodeNext
 * the default import is the function at run time but a namespace to the type checker.
 */
const canonicalize = canonicalizeModule as unknown as (input: unknown) => string | undefined;

/** The RFC 8785 canonical text of a JSON value. Throws on values JSON cannot represent. */
export function canonicalJson(value: unknown): string {
  const text = canonicalize(value);
  if (text === undefined) throw new TypeError('value has no JSON representation');
  return text;
}

/** Equality of JSON values independent of key order and number spelling. */
export function sameJson(a: unknown, b: unknown): boolean {
  return canonicalJson(a) === canonicalJson(b);
}

/** Hex SHA-256 of the canonical text: a stable digest of a JSON value. */
export function jsonDigest(value: unknown): string {
  return createHash('sha256').update(canonicalJson(value)).digest('hex');
}
