import { generateKeyPairSync, type KeyObject } from 'node:crypto';
import { CompactSign, exportJWK, generateKeyPair } from 'jose';
import { describe, expect, it } from 'vitest';
import {
  canonicalBytes,
  signInput,
  verifyInputSignature,
  type KeyRing,
  type SigningKey,
} from '../../src/policy/signature.ts';

const OWNER = 'ua-factory-07';
const AT = '2026-03-01T12:00:00Z';

function ed25519(): { privateKey: KeyObject; x: string } {
  const { privateKey, publicKey } = generateKeyPairSync('ed25519');
  const x = publicKey.export({ format: 'jwk' }).x!;
  return { privateKey, x };
}

function ringOf(...keys: SigningKey[]): KeyRing {
  return { keys: new Map(keys.map((k) => [k.key_id, k])), revision: keys.length - 1 };
}

function keyFor(key_id: string, x: string, extra: Partial<SigningKey> = {}): SigningKey {
  return {
    key_id,
    owner: OWNER,
    public_key: x,
    not_before: '2026-01-01T00:00:00Z',
    not_after: '2027-01-01T00:00:00Z',
    revoked_at: null,
    registered_at: '2026-01-01T00:00:00Z',
    ...extra,
  };
}

const payload = {
  mission_id: 'msn_1',
  event_type: 'mission.progress',
  usage: { llm_calls: 3, runtime_minutes: 1.5 },
  note: 'café ✓',
};

/** A detached compact JWS made by the decoded header and signature of `h.p.s`. */
const detach = (jws: string) => {
  const [h, , s] = jws.split('.');
  return `${h}..${s}`;
};

const b64 = (value: unknown) => Buffer.from(JSON.stringify(value)).toString('base64url');

describe('verifyInputSignature', () => {
  const signer = ed25519();
  const ring = ringOf(keyFor('k1', signer.x));
  const verify = (
    jws: string | undefined,
    extra: { payload?: unknown; owner?: string; ring?: KeyRing; at?: string } = {},
  ) =>
    verifyInputSignature({
      payload: extra.payload ?? payload,
      jws,
      owner: extra.owner ?? OWNER,
      ring: extra.ring ?? ring,
      at: extra.at ?? AT,
    });

  it('accepts its own signature and records what re-verifies it', () => {
    const jws = signInput(payload, { key_id: 'k1', privateKey: signer.privateKey });
    const verdict = verify(jws);
    expect(verdict).toEqual({
      ok: true,
      record: {
        kid: 'k1',
        alg: 'EdDSA',
        jws,
        payload_sha256: expect.stringMatching(/^[0-9a-f]{64}$/) as unknown,
      },
    });
  });

  it('accepts a detached JWS made by jose over the canonical bytes (interoperability)', async () => {
    const { privateKey, publicKey } = await generateKeyPair('EdDSA', { crv: 'Ed25519' });
    const { x } = await exportJWK(publicKey);
    const jws = detach(
      await new CompactSign(canonicalBytes(payload))
        .setProtectedHeader({ alg: 'EdDSA', kid: 'jose-key' })
        .sign(privateKey),
    );
    const verdict = verify(jws, { ring: ringOf(keyFor('jose-key', x!)) });
    expect(verdict.ok).toBe(true);
  });

  it('verifies whatever the key order of the payload (RFC 8785 canonical form)', () => {
    const jws = signInput(payload, { key_id: 'k1', privateKey: signer.privateKey });
    const permuted = {
      note: payload.note,
      usage: { runtime_minutes: 1.5, llm_calls: 3 },
      event_type: payload.event_type,
      mission_id: payload.mission_id,
    };
    expect(verify(jws, { payload: permuted }).ok).toBe(true);
  });

  it('refuses a tampered payload with SIGNATURE_INVALID', () => {
    const jws = signInput(payload, { key_id: 'k1', privateKey: signer.privateKey });
    const verdict = verify(jws, {
      payload: { ...payload, usage: { llm_calls: 2, runtime_minutes: 1.5 } },
    });
    expect(verdict).toMatchObject({ ok: false, code: 'SIGNATURE_INVALID', record: { kid: 'k1' } });
  });

  it('refuses a signature by another private key under the registered kid', () => {
    const jws = signInput(payload, { key_id: 'k1', privateKey: ed25519().privateKey });
    expect(verify(jws)).toMatchObject({ ok: false, code: 'SIGNATURE_INVALID' });
  });

  it('answers SIGNATURE_MISSING without a header', () => {
    expect(verify(undefined)).toMatchObject({ ok: false, code: 'SIGNATURE_MISSING' });
    expect(verify('')).toMatchObject({ ok: false, code: 'SIGNATURE_MISSING' });
  });

  it.each([
    [
      'an attached payload',
      (h: string, s: string) => `${h}.${canonicalBytes(payload).toString('base64url')}.${s}`,
    ],
    ['two segments', (h: string, s: string) => `${h}.${s}`],
    ['a padded header', (h: string, s: string) => `${h}=..${s}`],
    ['a short signature', (h: string) => `${h}..AAAA`],
  ])('refuses %s as SIGNATURE_INVALID', (_name, make) => {
    const [h = '', , s = ''] = signInput(payload, {
      key_id: 'k1',
      privateKey: signer.privateKey,
    }).split('.');
    expect(verify(make(h, s))).toMatchObject({ ok: false, code: 'SIGNATURE_INVALID' });
  });

  it.each([
    ['b64: false', { alg: 'EdDSA', kid: 'k1', b64: false, crit: ['b64'] }, /"b64", "crit"/],
    ['crit', { alg: 'EdDSA', kid: 'k1', crit: ['exp'] }, /"crit"/],
    ['a typ', { alg: 'EdDSA', kid: 'k1', typ: 'JOSE' }, /"typ"/],
    ['another alg', { alg: 'ES256', kid: 'k1' }, /ES256/],
    ['no kid', { alg: 'EdDSA' }, /no kid/],
  ])('refuses a protected header with %s', (_name, header, message) => {
    const s = signInput(payload, { key_id: 'k1', privateKey: signer.privateKey }).split('.')[2]!;
    const verdict = verify(`${b64(header)}..${s}`);
    expect(verdict).toMatchObject({ ok: false, code: 'SIGNATURE_INVALID' });
    expect(verdict.ok ? '' : verdict.message).toMatch(message);
  });

  it('answers KEY_UNKNOWN for a kid not registered, and for a key of another owner', () => {
    const unknown = signInput(payload, { key_id: 'k9', privateKey: signer.privateKey });
    expect(verify(unknown)).toMatchObject({
      ok: false,
      code: 'KEY_UNKNOWN',
      record: { kid: 'k9' },
    });
    const jws = signInput(payload, { key_id: 'k1', privateKey: signer.privateKey });
    const verdict = verify(jws, { owner: 'ua-factory-99' });
    expect(verdict).toMatchObject({ ok: false, code: 'KEY_UNKNOWN' });
    expect(verdict.ok ? '' : verdict.message).toBe(
      'Key "k1" is not registered for instance "ua-factory-99".',
    );
  });

  it('answers KEY_NOT_VALID_AT before not_before and at or after not_after', () => {
    const jws = signInput(payload, { key_id: 'k1', privateKey: signer.privateKey });
    expect(verify(jws, { at: '2025-12-31T23:59:59Z' })).toMatchObject({
      ok: false,
      code: 'KEY_NOT_VALID_AT',
    });
    expect(verify(jws, { at: '2026-01-01T00:00:00Z' }).ok).toBe(true);
    const expired = verify(jws, { at: '2027-01-01T00:00:00Z' });
    expect(expired).toMatchObject({ ok: false, code: 'KEY_NOT_VALID_AT' });
    expect(expired.ok ? '' : expired.message).toBe(
      'Key "k1" is valid from 2026-01-01T00:00:00Z until 2027-01-01T00:00:00Z, not at 2027-01-01T00:00:00Z.',
    );
  });

  it('answers KEY_REVOKED from the revocation on, and accepts inputs received before it', () => {
    const revoked = ringOf(keyFor('k1', signer.x, { revoked_at: AT }));
    const jws = signInput(payload, { key_id: 'k1', privateKey: signer.privateKey });
    expect(verify(jws, { ring: revoked })).toMatchObject({ ok: false, code: 'KEY_REVOKED' });
    expect(verify(jws, { ring: revoked, at: '2026-03-01T11:59:59Z' }).ok).toBe(true);
  });

  it('checks the window before the revocation, and both before the signature', () => {
    const bad = signInput(payload, { key_id: 'k1', privateKey: ed25519().privateKey });
    const revoked = ringOf(keyFor('k1', signer.x, { revoked_at: '2026-02-01T00:00:00Z' }));
    expect(verify(bad, { ring: revoked, at: '2027-06-01T00:00:00Z' })).toMatchObject({
      code: 'KEY_NOT_VALID_AT',
    });
    expect(verify(bad, { ring: revoked })).toMatchObject({ code: 'KEY_REVOKED' });
  });

  it('accepts both keys of a rotation during their overlap', () => {
    const next = ed25519();
    const rotated = ringOf(
      keyFor('k1', signer.x, { not_after: '2026-04-01T00:00:00Z' }),
      keyFor('k2', next.x, { not_before: '2026-02-15T00:00:00Z' }),
    );
    const old = signInput(payload, { key_id: 'k1', privateKey: signer.privateKey });
    const fresh = signInput(payload, { key_id: 'k2', privateKey: next.privateKey });
    expect(verify(old, { ring: rotated }).ok).toBe(true);
    expect(verify(fresh, { ring: rotated }).ok).toBe(true);
    expect(verify(old, { ring: rotated, at: '2026-05-01T00:00:00Z' })).toMatchObject({
      code: 'KEY_NOT_VALID_AT',
    });
    expect(verify(fresh, { ring: rotated, at: '2026-05-01T00:00:00Z' }).ok).toBe(true);
  });
});

describe('canonicalBytes', () => {
  it('is the RFC 8785 form: sorted keys, no whitespace, ES number spelling', () => {
    expect(canonicalBytes({ b: 1e21, a: [1.0, 'é'] }).toString('utf8')).toBe(
      '{"a":[1,"é"],"b":1e+21}',
    );
  });
});
