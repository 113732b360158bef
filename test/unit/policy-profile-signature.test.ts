import { generateKeyPairSync } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { isLedgerError } from '../../src/errors.ts';
import { parseProfile, type PolicyProfile } from '../../src/policy/profile.ts';
import {
  parseProfileSignature,
  signProfile,
  verifyProfileSignature,
  type TrustedProfileKey,
} from '../../src/policy/profile-signature.ts';
import { shippedProfiles } from '../../src/policy/shipped-profiles.ts';

function ed25519(keyId: string) {
  const { privateKey, publicKey } = generateKeyPairSync('ed25519');
  return {
    privatePem: privateKey.export({ type: 'pkcs8', format: 'pem' }).toString(),
    trusted: {
      key_id: keyId,
      public_key_pem: publicKey.export({ type: 'spki', format: 'pem' }).toString(),
    } satisfies TrustedProfileKey,
  };
}

const ops = ed25519('ops-2026');
const rotated = ed25519('ops-2027');
const profile = (): PolicyProfile => structuredClone(shippedProfiles['control-plane-strict-v1']);

describe('profile signatures (Ed25519, detached, over the canonical JSON)', () => {
  const signature = signProfile(profile(), ops.privatePem);

  it('verifies with the trusted key it names, among others', () => {
    const check = verifyProfileSignature(profile(), { key_id: 'ops-2026', signature }, [
      rotated.trusted,
      ops.trusted,
    ]);
    expect(check).toEqual({ ok: true, key_id: 'ops-2026' });
  });

  it('is an unpadded base64url signature of 64 bytes, deterministic for a profile and key', () => {
    expect(signature).toMatch(/^[A-Za-z0-9_-]{86}$/);
    expect(Buffer.from(signature, 'base64url')).toHaveLength(64);
    expect(signProfile(profile(), ops.privatePem)).toBe(signature);
  });

  it('still verifies the same profile written with other key order and spacing', () => {
    const reformatted = parseProfile(JSON.parse(JSON.stringify(profile(), null, 3)));
    const reordered = { ...reformatted, settings: reformatted.settings, id: reformatted.id };
    expect(
      verifyProfileSignature(reordered, { key_id: 'ops-2026', signature }, [ops.trusted]).ok,
    ).toBe(true);
  });

  it('fails when one mode of the profile was changed after signing', () => {
    const tampered = profile();
    tampered.rules.signature.production = 'warn';
    expect(
      verifyProfileSignature(tampered, { key_id: 'ops-2026', signature }, [ops.trusted]),
    ).toEqual({ ok: false, reason: 'the signature does not verify with key "ops-2026"' });
  });

  it('fails when a byte of the signature was changed', () => {
    const bytes = Buffer.from(signature, 'base64url');
    bytes[10] = (bytes[10] ?? 0) ^ 0x01;
    const flipped = bytes.toString('base64url');
    expect(
      verifyProfileSignature(profile(), { key_id: 'ops-2026', signature: flipped }, [ops.trusted])
        .ok,
    ).toBe(false);
  });

  it('fails for a key id that is not trusted, and for a trusted id whose key did not sign', () => {
    expect(
      verifyProfileSignature(profile(), { key_id: 'ops-2026', signature }, [rotated.trusted]),
    ).toEqual({ ok: false, reason: 'key "ops-2026" is not a trusted key' });
    const impostor = { ...rotated.trusted, key_id: 'ops-2026' };
    expect(
      verifyProfileSignature(profile(), { key_id: 'ops-2026', signature }, [impostor]),
    ).toEqual({ ok: false, reason: 'the signature does not verify with key "ops-2026"' });
  });

  it('fails, without throwing, when the trusted key is not an Ed25519 PEM key', () => {
    const rsa = generateKeyPairSync('rsa', { modulusLength: 2048 }).publicKey;
    const notEd25519 = {
      key_id: 'ops-2026',
      public_key_pem: rsa.export({ type: 'spki', format: 'pem' }).toString(),
    };
    const check = verifyProfileSignature(profile(), { key_id: 'ops-2026', signature }, [
      notEd25519,
    ]);
    expect(check).toEqual({
      ok: false,
      reason: 'trusted key "ops-2026": The trusted key is not an Ed25519 key (it is rsa).',
    });
    const garbage = { key_id: 'ops-2026', public_key_pem: 'not a key' };
    expect(verifyProfileSignature(profile(), { key_id: 'ops-2026', signature }, [garbage])).toEqual(
      { ok: false, reason: 'trusted key "ops-2026": The trusted key is not a PEM key.' },
    );
  });

  it('refuses to sign with a key that is not Ed25519', () => {
    const ec = generateKeyPairSync('ec', { namedCurve: 'P-256' }).privateKey;
    const pem = ec.export({ type: 'pkcs8', format: 'pem' }).toString();
    expect(() => signProfile(profile(), pem)).toThrow(
      'The profile signing key is not an Ed25519 key (it is ec).',
    );
  });
});

describe('the detached signature file', () => {
  it('parses { key_id, signature } and refuses anything else', () => {
    const signature = signProfile(profile(), ops.privatePem);
    expect(parseProfileSignature({ key_id: 'ops-2026', signature })).toEqual({
      key_id: 'ops-2026',
      signature,
    });
    const refused = (json: unknown): string => {
      try {
        parseProfileSignature(json);
      } catch (error) {
        if (isLedgerError(error, 'CONFIGURATION_INVALID')) return error.message;
        throw error;
      }
      throw new Error('expected the signature file to be refused');
    };
    expect(refused({ key_id: 'ops-2026', signature: `${signature}=` })).toBe(
      'Profile signature: signature must be an unpadded base64url Ed25519 signature.',
    );
    expect(refused({ key_id: 'ops-2026', signature, alg: 'EdDSA' })).toBe(
      'Profile signature: the document has an unknown field alg.',
    );
    expect(refused({ signature })).toBe('Profile signature: key_id is missing.');
  });
});
