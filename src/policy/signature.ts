import { createHash, createPublicKey, sign, verify, type KeyObject } from 'node:crypto';
import canonicalizeModule from 'canonicalize';

/*
 * Signed inputs: a detached JWS (RFC 7515 compact serialization, detached payload as in its
 * Appendix F) with alg EdDSA over Ed25519 (RFC 8037), whose payload is the RFC 8785 canonical
 * JSON of the input. The header `Ledger-Signature` carries `<protected>..<signature>`; the body is
 * the payload. Verification is synchronous node:crypto, so the pure, synchronous decide path can
 * call it; any JOSE library plus an RFC 8785 canonicalizer can sign.
 */

/** The RFC 8785 reference package ships CommonJS whose declaration file is a namespace to tsc. */
const canonicalize = canonicalizeModule as unknown as (input: unknown) => string | undefined;

/** A registered signing key, as the key ring holds it (folded from the `ledger-keys` stream). */
export interface SigningKey {
  key_id: string;
  /** The instance id of the sender whose inputs the key signs. */
  owner: string;
  /** Base64url of the raw 32-byte Ed25519 public key, as a JWK's `x`. */
  public_key: string;
  /** ISO-8601: the key verifies inputs received at or after this instant. */
  not_before: string;
  /** ISO-8601: the key verifies inputs received before this instant; null: no end. */
  not_after: string | null;
  /** ISO-8601: the key verifies no input received at or after this instant; null: not revoked. */
  revoked_at: string | null;
  registered_at: string;
}

/** Every registered key by id, and the revision of the `ledger-keys` stream it reflects. */
export interface KeyRing {
  readonly keys: ReadonlyMap<string, SigningKey>;
  /** Revision of the `ledger-keys` stream this ring folds; -1 for the empty registry. */
  readonly revision: number;
}

/** What the ledger records of a signature so that it can be verified again from the log alone. */
export interface SignatureRecord {
  kid: string;
  alg: 'EdDSA';
  /** The `Ledger-Signature` header as received. */
  jws: string;
  /** Hex SHA-256 of the canonical bytes the signature covers. */
  payload_sha256: string;
}

/** The reason codes a signature check gives. */
export type SignatureCode =
  'SIGNATURE_MISSING' | 'SIGNATURE_INVALID' | 'KEY_UNKNOWN' | 'KEY_NOT_VALID_AT' | 'KEY_REVOKED';

/** The outcome of {@link verifyInputSignature}: the record to keep, or why it fails. */
export type SignatureVerdict =
  | { ok: true; record: SignatureRecord }
  | { ok: false; code: SignatureCode; message: string; record?: SignatureRecord };

/** The one protected header the ledger takes: exactly these two parameters. */
interface ProtectedHeader {
  alg: 'EdDSA';
  kid: string;
}

const BASE64URL = /^[A-Za-z0-9_-]+$/;
const ED25519_SIGNATURE_BYTES = 64;

/** The RFC 8785 canonical UTF-8 bytes of a JSON value: what a signature covers. */
export function canonicalBytes(payload: unknown): Buffer {
  const text = canonicalize(payload);
  if (text === undefined) throw new TypeError('the payload has no JSON representation');
  return Buffer.from(text, 'utf8');
}

/**
 * Signs `payload` as a factory does: a detached compact JWS over its canonical bytes, with the
 * protected header `{"alg":"EdDSA","kid":key_id}`. For tests, simulation and trace generation;
 * real senders use their own JOSE library (docs/api.md, "Signed inputs").
 */
export function signInput(
  payload: unknown,
  key: { key_id: string; privateKey: KeyObject },
): string {
  const header = Buffer.from(JSON.stringify({ alg: 'EdDSA', kid: key.key_id })).toString(
    'base64url',
  );
  const input = `${header}.${canonicalBytes(payload).toString('base64url')}`;
  const signature = sign(null, Buffer.from(input, 'ascii'), key.privateKey);
  return `${header}..${signature.toString('base64url')}`;
}

/** The bytes of a base64url segment, or undefined unless it is the canonical unpadded encoding. */
function base64url(segment: string): Buffer | undefined {
  if (!BASE64URL.test(segment)) return undefined;
  const bytes = Buffer.from(segment, 'base64url');
  return bytes.toString('base64url') === segment ? bytes : undefined;
}

/** The protected header, or why it is not the one the ledger takes. */
function protectedHeader(segment: string): ProtectedHeader | string {
  const bytes = base64url(segment);
  if (bytes === undefined) return 'its protected header is not base64url';
  let header: unknown;
  try {
    header = JSON.parse(bytes.toString('utf8'));
  } catch {
    return 'its protected header is not JSON';
  }
  if (typeof header !== 'object' || header === null || Array.isArray(header))
    return 'its protected header is not a JSON object';
  const fields = header as Record<string, unknown>;
  // `b64: false` (RFC 7797) would sign the raw bytes and `crit` names extensions the ledger does
  // not implement: both change what a signature means, so any parameter but these two is refused.
  const extra = Object.keys(fields).filter((name) => name !== 'alg' && name !== 'kid');
  if (extra.length > 0)
    return `its protected header may hold only alg and kid, not ${extra.map((n) => JSON.stringify(n)).join(', ')}`;
  if (fields.alg !== 'EdDSA')
    return `its alg is ${JSON.stringify(fields.alg ?? null)}, not "EdDSA" (Ed25519)`;
  if (typeof fields.kid !== 'string' || fields.kid.length === 0)
    return 'its protected header has no kid';
  return { alg: 'EdDSA', kid: fields.kid };
}

/** The Ed25519 public key of a JWK `x`, or undefined when it is no valid key. */
function publicKeyOf(x: string): KeyObject | undefined {
  try {
    return createPublicKey({ key: { kty: 'OKP', crv: 'Ed25519', x }, format: 'jwk' });
  } catch {
    return undefined;
  }
}

const invalid = (message: string, record?: SignatureRecord): SignatureVerdict => ({
  ok: false,
  code: 'SIGNATURE_INVALID',
  message,
  ...(record === undefined ? {} : { record }),
});

/**
 * Verifies the `Ledger-Signature` of an input received at `at` from the sender `owner`, against
 * the key ring in force then. Checks, in order: a signature is present (SIGNATURE_MISSING); it is
 * a detached compact JWS whose protected header is exactly `{"alg":"EdDSA","kid":...}`
 * (SIGNATURE_INVALID); the ring holds `kid` for `owner` (KEY_UNKNOWN); `at` is in the key's
 * window `[not_before, not_after)` (KEY_NOT_VALID_AT); the key was not revoked at or before `at`
 * (KEY_REVOKED); the signature verifies over the payload's canonical bytes (SIGNATURE_INVALID).
 * Pure and synchronous; every failure after the header parses carries the record.
 *
 * @example
 * const verdict = verifyInputSignature({ payload: body, jws: req.get('Ledger-Signature'),
 *   owner: principal.id, ring: keys.current(), at: receivedAt });
 */
export function verifyInputSignature(args: {
  payload: unknown;
  jws: string | undefined;
  owner: string;
  ring: KeyRing;
  at: string;
}): SignatureVerdict {
  const { payload, jws, owner, ring, at } = args;
  if (jws === undefined || jws.trim() === '')
    return {
      ok: false,
      code: 'SIGNATURE_MISSING',
      message: 'The input carries no Ledger-Signature header.',
    };
  const parts = jws.split('.');
  if (parts.length !== 3 || parts[1] !== '')
    return invalid(
      'The Ledger-Signature is not a detached compact JWS (<protected header>..<signature>).',
    );
  const [headerPart = '', , signaturePart = ''] = parts;
  const header = protectedHeader(headerPart);
  if (typeof header === 'string') return invalid(`The Ledger-Signature is refused: ${header}.`);
  let bytes: Buffer;
  try {
    bytes = canonicalBytes(payload);
  } catch {
    return invalid('The input has no canonical JSON form to verify a signature over.');
  }
  const record: SignatureRecord = {
    kid: header.kid,
    alg: 'EdDSA',
    jws,
    payload_sha256: createHash('sha256').update(bytes).digest('hex'),
  };
  const signature = base64url(signaturePart);
  if (signature === undefined || signature.length !== ED25519_SIGNATURE_BYTES)
    return invalid(
      'The Ledger-Signature is refused: its signature is not 64 bytes of base64url.',
      record,
    );
  const kid = JSON.stringify(header.kid);
  const key = ring.keys.get(header.kid);
  if (key === undefined || key.owner !== owner)
    return {
      ok: false,
      code: 'KEY_UNKNOWN',
      message: `Key ${kid} is not registered for instance ${JSON.stringify(owner)}.`,
      record,
    };
  const time = Date.parse(at);
  if (
    time < Date.parse(key.not_before) ||
    (key.not_after !== null && time >= Date.parse(key.not_after))
  )
    return {
      ok: false,
      code: 'KEY_NOT_VALID_AT',
      message: `Key ${kid} is valid from ${key.not_before} ${key.not_after === null ? 'on' : `until ${key.not_after}`}, not at ${at}.`,
      record,
    };
  if (key.revoked_at !== null && Date.parse(key.revoked_at) <= time)
    return {
      ok: false,
      code: 'KEY_REVOKED',
      message: `Key ${kid} was revoked at ${key.revoked_at}; the input was received at ${at}.`,
      record,
    };
  const publicKey = publicKeyOf(key.public_key);
  const signingInput = Buffer.from(`${headerPart}.${bytes.toString('base64url')}`, 'ascii');
  if (publicKey === undefined || !verify(null, signingInput, publicKey, signature))
    return invalid(
      `The Ledger-Signature does not verify with key ${kid} over the input's canonical JSON.`,
      record,
    );
  return { ok: true, record };
}
