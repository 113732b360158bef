import { createPrivateKey, createPublicKey, sign, verify, type KeyObject } from 'node:crypto';
import { profileSignatureSchema, type ProfileSignature } from '../../schemas/policy-events.ts';
import { LedgerError } from '../errors.ts';
import { parseDocument } from './plain-issues.ts';
import { canonicalProfile, type PolicyProfile } from './profile.ts';

/*
 * Profiles are signed with Ed25519, detached, over their RFC 8785 canonical JSON: the signature
 * survives reformatting the profile file, and the digest a decision records covers the same bytes.
 */

/** An Ed25519 signature is 64 bytes: 86 base64url characters, unpadded. */
const base64urlSignature = /^[A-Za-z0-9_-]{86}$/;

/**
 * The detached signature file beside a profile (`NAME.sig.json` beside `NAME.json`), also the
 * `signature` of an activation request: `{ "key_id": "ops-2026", "signature": "<base64url>" }`.
 */
export { profileSignatureSchema, type ProfileSignature };

/** A public key trusted to sign profiles. */
export interface TrustedProfileKey {
  key_id: string;
  /** An Ed25519 public key, PEM (SPKI). */
  public_key_pem: string;
}

/** Why a profile signature was not accepted, or the key that made it. */
export type ProfileSignatureCheck = { ok: true; key_id: string } | { ok: false; reason: string };

/** Parses a `<profile>.sig.json` document; throws `CONFIGURATION_INVALID` naming the problem. */
export function parseProfileSignature(json: unknown): ProfileSignature {
  return parseDocument('Profile signature', profileSignatureSchema, json);
}

function ed25519Key<T extends KeyObject>(make: () => T, what: string): T {
  let key: T;
  try {
    key = make();
  } catch (cause) {
    throw new LedgerError('CONFIGURATION_INVALID', `The ${what} is not a PEM key.`, {}, { cause });
  }
  if (key.asymmetricKeyType !== 'ed25519') {
    throw new LedgerError(
      'CONFIGURATION_INVALID',
      `The ${what} is not an Ed25519 key (it is ${key.asymmetricKeyType ?? 'not asymmetric'}).`,
    );
  }
  return key;
}

/**
 * Signs a profile's canonical JSON with an Ed25519 private key (PEM, PKCS#8) and returns the
 * signature, base64url. Throws `CONFIGURATION_INVALID` for a key that is not Ed25519.
 */
export function signProfile(profile: PolicyProfile, privateKeyPem: string): string {
  const key = ed25519Key(() => createPrivateKey(privateKeyPem), 'profile signing key');
  return sign(null, Buffer.from(canonicalProfile(profile), 'utf8'), key).toString('base64url');
}

/**
 * Checks a detached signature of `profile` against the trusted keys: the key it names must be
 * among them, be Ed25519, and verify the signature over the profile's canonical JSON. Answers
 * which key signed, or why the signature is not accepted (the caller decides whether that is
 * fatal: `PROFILE_UNTRUSTED` in production).
 */
export function verifyProfileSignature(
  profile: PolicyProfile,
  signature: ProfileSignature,
  trustedKeys: readonly TrustedProfileKey[],
): ProfileSignatureCheck {
  const trusted = trustedKeys.find((key) => key.key_id === signature.key_id);
  if (trusted === undefined) {
    return { ok: false, reason: `key ${JSON.stringify(signature.key_id)} is not a trusted key` };
  }
  if (!base64urlSignature.test(signature.signature)) {
    return { ok: false, reason: 'the signature is not an unpadded base64url Ed25519 signature' };
  }
  let key: KeyObject;
  try {
    key = ed25519Key(() => createPublicKey(trusted.public_key_pem), 'trusted key');
  } catch (error) {
    const why = error instanceof Error ? error.message : String(error);
    return { ok: false, reason: `trusted key ${JSON.stringify(trusted.key_id)}: ${why}` };
  }
  const bytes = Buffer.from(canonicalProfile(profile), 'utf8');
  return verify(null, bytes, key, Buffer.from(signature.signature, 'base64url'))
    ? { ok: true, key_id: trusted.key_id }
    : {
        ok: false,
        reason: `the signature does not verify with key ${JSON.stringify(trusted.key_id)}`,
      };
}
