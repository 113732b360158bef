import { createPrivateKey, createPublicKey, type KeyObject } from 'node:crypto';

/** The PKCS#8 DER prefix of an Ed25519 private key (RFC 8410): the 32-byte seed follows it. */
const ED25519_PKCS8_PREFIX = Buffer.from('302e020100300506032b657004220420', 'hex');

/** A signing key the generator holds: what it signs with and what it registers. */
export interface TraceKey {
  key_id: string;
  owner: string;
  privateKey: KeyObject;
  /** Base64url of the raw 32-byte public key, as `POST /v1/keys` takes it. */
  public_key: string;
}

/**
 * The Ed25519 key whose private seed is `seed` (32 bytes): deterministic, so a trace generated
 * twice signs with the same keys and carries the same signatures (Ed25519 signing is
 * deterministic too, RFC 8032).
 */
export function ed25519KeyFromSeed(key_id: string, owner: string, seed: Buffer): TraceKey {
  if (seed.length !== 32) throw new RangeError('an Ed25519 seed is 32 bytes');
  const privateKey = createPrivateKey({
    key: Buffer.concat([ED25519_PKCS8_PREFIX, seed]),
    format: 'der',
    type: 'pkcs8',
  });
  const jwk = createPublicKey(privateKey).export({ format: 'jwk' });
  if (typeof jwk.x !== 'string') throw new Error('node:crypto gave no Ed25519 public key');
  return { key_id, owner, privateKey, public_key: jwk.x };
}
