import { generateKeyPairSync } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { eventDataSchema, KEYS_STREAM } from '../../schemas/index.ts';
import { KeyRingCache } from '../../src/ledger/key-ring-cache.ts';
import { signInput, verifyInputSignature } from '../../src/policy/signature.ts';
import { OPERATOR_NAME, TOKENS, useStoreAndApp } from '../support/http-app.ts';
import { freshSchemaName, storeUrl } from '../support/postgres.ts';

/** A fresh Ed25519 key pair: the private key and the public key as a JWK `x`. */
function keyPair() {
  const { privateKey, publicKey } = generateKeyPairSync('ed25519');
  return { privateKey, x: publicKey.export({ format: 'jwk' }).x! };
}

interface KeyView {
  key_id: string;
  owner: string;
  public_key: string;
  not_before: string;
  not_after: string | null;
  revoked_at: string | null;
  revocation_reason: string | null;
  status: string;
  revision: number;
}

describe.each([
  ['PGlite', () => 'pglite:memory'],
  ['PostgreSQL', () => storeUrl(freshSchemaName('keys'))],
])('Signing keys over HTTP on %s', (_name, url) => {
  const suite = useStoreAndApp(url);
  const operator = { token: TOKENS.operator };
  const register = (
    body: unknown,
    headers: Record<string, string> = {},
    token: string = TOKENS.operator,
  ) => suite.app.call('POST', '/v1/keys', { token, body, headers });
  const stream = () => suite.store.readStream(KEYS_STREAM);

  it('registers a key, records key.registered, and shows it active', async () => {
    const { x } = keyPair();
    const res = await register({ key_id: 'fac7-2026-01', owner: 'ua-factory-07', public_key: x });
    expect(res.status).toBe(201);
    expect(res.body).toMatchObject({ key_id: 'fac7-2026-01', duplicate: false });
    const events = await stream();
    const event = events.at(-1)!;
    expect(event).toMatchObject({
      type: 'key.registered',
      revision: res.body.revision,
      position: res.body.position,
      data: {
        key_id: 'fac7-2026-01',
        owner: 'ua-factory-07',
        public_key: x,
        not_before: null,
        not_after: null,
        principal: { role: 'operator', id: OPERATOR_NAME },
      },
      metadata: { actor: `operator:${OPERATOR_NAME}` },
    });
    for (const e of events)
      expect(eventDataSchema(e.stream, e.type)?.safeParse(e.data).success).toBe(true);
    const view = await suite.app.call<KeyView>('GET', '/v1/keys/fac7-2026-01', operator);
    expect(view.status).toBe(200);
    expect(view.body).toMatchObject({ key_id: 'fac7-2026-01', status: 'active', revoked_at: null });
    expect(view.body.not_before).toBe(event.data.registered_at);
  });

  it('answers an identical registration as a duplicate and appends nothing', async () => {
    const { x } = keyPair();
    const body = {
      key_id: 'dup-1',
      owner: 'ua-factory-07',
      public_key: x,
      not_after: '2099-01-01T00:00:00Z',
    };
    const first = await register(body);
    expect(first.status).toBe(201);
    const before = (await stream()).length;
    const again = await register({ ...body, not_after: '2099-01-01T00:00:00.000Z' });
    expect(again.status).toBe(200);
    expect(again.body).toEqual({ ...first.body, duplicate: true });
    expect((await stream()).length).toBe(before);
  });

  it('refuses a conflicting re-registration with 409 ALREADY_EXISTS, recorded', async () => {
    const body = { key_id: 'conflict-1', owner: 'ua-factory-07', public_key: keyPair().x };
    expect((await register(body)).status).toBe(201);
    const res = await register({ ...body, public_key: keyPair().x });
    expect(res.status).toBe(409);
    expect(res.body.error?.code).toBe('ALREADY_EXISTS');
    const recorded = (await stream()).at(-1)!;
    expect(recorded).toMatchObject({
      type: 'key.registration_rejected',
      revision: res.body.error?.details.recorded?.revision,
      data: { reasons: [{ code: 'ALREADY_EXISTS' }] },
    });
    const view = await suite.app.call<KeyView>('GET', '/v1/keys/conflict-1', operator);
    expect(view.body.public_key).toBe(body.public_key);
  });

  it('refuses bytes that are no Ed25519 point, and an empty window, with 422', async () => {
    // y = 2 has no x on the curve: (y²-1)/(d·y²+1) is not a square mod p.
    const notAPoint = Buffer.from([2, ...new Array<number>(31).fill(0)]).toString('base64url');
    const res = await register({ key_id: 'bad-point', owner: 'o', public_key: notAPoint });
    expect(res.status).toBe(422);
    expect(res.body.error?.code).toBe('SCHEMA_INVALID');
    const window = await register({
      key_id: 'bad-window',
      owner: 'o',
      public_key: keyPair().x,
      not_before: '2030-01-01T00:00:00Z',
      not_after: '2029-01-01T00:00:00Z',
    });
    expect(window.status).toBe(422);
    const missing = await suite.app.call('GET', '/v1/keys/bad-point', operator);
    expect(missing.status).toBe(404);
    expect(missing.body.error?.code).toBe('NOT_FOUND');
  });

  it('deduplicates a retry under one Idempotency-Key', async () => {
    const body = { key_id: 'idem-1', owner: 'o', public_key: keyPair().x };
    const first = await register(body, { 'Idempotency-Key': 'reg-idem-1' });
    const again = await register(body, { 'Idempotency-Key': 'reg-idem-1' });
    expect(first.status).toBe(201);
    expect(again.status).toBe(200);
    expect(again.body).toEqual({ ...first.body, duplicate: true });
  });

  it('revokes a key once: the first revocation stands; an unknown key is 404', async () => {
    const body = { key_id: 'rev-1', owner: 'ua-factory-07', public_key: keyPair().x };
    expect((await register(body)).status).toBe(201);
    const revoke = (id: string, reason: string) =>
      suite.app.call('POST', `/v1/keys/${id}/revoke`, { ...operator, body: { reason } });
    const first = await revoke('rev-1', 'Laptop lost.');
    expect(first.status).toBe(201);
    const second = await revoke('rev-1', 'Another reason.');
    expect(second.status).toBe(200);
    expect(second.body).toEqual({ ...first.body, duplicate: true });
    const view = await suite.app.call<KeyView>('GET', '/v1/keys/rev-1', operator);
    expect(view.body).toMatchObject({ status: 'revoked', revocation_reason: 'Laptop lost.' });
    const unknown = await revoke('no-such-key', 'x');
    expect(unknown.status).toBe(404);
    expect(unknown.body.error?.code).toBe('NOT_FOUND');
    expect((await stream()).at(-1)).toMatchObject({
      type: 'key.revocation_rejected',
      data: {
        input: { key_id: 'no-such-key', body: { reason: 'x' } },
        reasons: [{ code: 'NOT_FOUND' }],
      },
    });
  });

  it('lists keys in key id order, paged by cursor', async () => {
    for (const id of ['page-c', 'page-a', 'page-b'])
      expect((await register({ key_id: id, owner: 'o', public_key: keyPair().x })).status).toBe(
        201,
      );
    const all: string[] = [];
    let cursor: string | null = null;
    do {
      const query: string = cursor === null ? '' : `&cursor=${encodeURIComponent(cursor)}`;
      const page = await suite.app.call<{ keys: KeyView[]; next_cursor: string | null }>(
        'GET',
        `/v1/keys?limit=2${query}`,
        operator,
      );
      expect(page.status).toBe(200);
      expect(page.body.keys.length).toBeLessThanOrEqual(2);
      all.push(...page.body.keys.map((k) => k.key_id));
      cursor = page.body.next_cursor;
    } while (cursor !== null);
    expect(all).toEqual([...all].sort());
    expect(all).toEqual(expect.arrayContaining(['page-a', 'page-b', 'page-c']));
    expect(new Set(all).size).toBe(all.length);
    const bad = await suite.app.call('GET', '/v1/keys?cursor=%20', operator);
    expect(bad.status).toBe(400);
  });

  it('lets an auditor read but not write, and forbids factories', async () => {
    const list = await suite.app.call('GET', '/v1/keys', { token: TOKENS.auditor });
    expect(list.status).toBe(200);
    const write = await register(
      { key_id: 'aud-1', owner: 'o', public_key: keyPair().x },
      {},
      TOKENS.auditor,
    );
    expect(write.status).toBe(403);
    expect(write.body.error?.code).toBe('FORBIDDEN');
    const factoryRead = await suite.app.call('GET', '/v1/keys', { token: TOKENS.factory });
    expect(factoryRead.status).toBe(403);
    const factoryWrite = await register(
      { key_id: 'fac-1', owner: 'o', public_key: keyPair().x },
      {},
      TOKENS.factory,
    );
    expect(factoryWrite.status).toBe(403);
    const revoke = await suite.app.call('POST', '/v1/keys/fac7-2026-01/revoke', {
      token: TOKENS.factory,
      body: { reason: 'mine' },
    });
    expect(revoke.status).toBe(403);
    const missing = await suite.app.call('GET', '/v1/keys/aud-1', operator);
    expect(missing.status).toBe(404);
  });

  it("keeps the serving process's key ring current, and another process's ring follows the log", async () => {
    const follower = new KeyRingCache({ store: suite.store });
    await follower.start();
    try {
      const signer = keyPair();
      const res = await register({
        key_id: 'ring-1',
        owner: 'ua-factory-07',
        public_key: signer.x,
      });
      expect(res.status).toBe(201);
      // The registering process sees the key as soon as it is answered.
      const ring = suite.app.keyRing.current();
      expect(ring.keys.get('ring-1')?.public_key).toBe(signer.x);
      const payload = { hello: 'world' };
      const jws = signInput(payload, { key_id: 'ring-1', privateKey: signer.privateKey });
      const at = new Date().toISOString();
      expect(verifyInputSignature({ payload, jws, owner: 'ua-factory-07', ring, at }).ok).toBe(
        true,
      );

      await follower.waitFor(res.body.revision!);
      expect(follower.current().keys.get('ring-1')?.revoked_at).toBeNull();

      const revoked = await suite.app.call('POST', '/v1/keys/ring-1/revoke', {
        ...operator,
        body: { reason: 'Rotated.' },
      });
      expect(revoked.status).toBe(201);
      const later = new Date(Date.now() + 1000).toISOString();
      expect(
        verifyInputSignature({
          payload,
          jws,
          owner: 'ua-factory-07',
          ring: suite.app.keyRing.current(),
          at: later,
        }),
      ).toMatchObject({ ok: false, code: 'KEY_REVOKED' });
      await follower.waitFor(revoked.body.revision!);
      expect(follower.current().keys.get('ring-1')?.revoked_at).not.toBeNull();
      expect(follower.current().revision).toBeGreaterThanOrEqual(revoked.body.revision!);
    } finally {
      await follower.stop();
    }
  });
});
