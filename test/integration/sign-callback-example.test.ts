import { execFile } from 'node:child_process';
import { generateKeyPairSync } from 'node:crypto';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { verifyInputSignature, type KeyRing } from '../../src/policy/signature.ts';

/*
 * examples/sign-callback.js, the signer docs/api.md shows factories, run as a reader runs it:
 * what it prints must be a Ledger-Signature the ledger accepts for that body, and only for it.
 */

const SCRIPT = new URL('../../examples/sign-callback.js', import.meta.url).pathname;
const run = promisify(execFile);

describe('examples/sign-callback.js', () => {
  let dir: string;
  let ring: KeyRing;
  const body = {
    mission_id: 'msn_01JD8Z6Q4X7T2K9RBM3V5N1HCF',
    event_type: 'mission.progress',
    usage: { runtime_minutes: 3.5, llm_calls: 12 },
    summary: 'Tests pass — 12/12 ✓',
  };

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'sign-example-'));
    const { privateKey, publicKey } = generateKeyPairSync('ed25519');
    await writeFile(join(dir, 'key.pem'), privateKey.export({ format: 'pem', type: 'pkcs8' }));
    // Written with other spacing and key order than the canonical form the signature covers.
    await writeFile(join(dir, 'callback.json'), JSON.stringify(body, null, 2));
    const key = {
      key_id: 'fac7-2026-01',
      owner: 'ua-factory-07',
      public_key: publicKey.export({ format: 'jwk' }).x!,
      not_before: '2026-01-01T00:00:00Z',
      not_after: null,
      revoked_at: null,
      registered_at: '2026-01-01T00:00:00Z',
    };
    ring = { keys: new Map([[key.key_id, key]]), revision: 0 };
  });
  afterAll(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('prints a Ledger-Signature the ledger verifies over the body, and over no other', async () => {
    const { stdout } = await run(process.execPath, [
      SCRIPT,
      join(dir, 'key.pem'),
      'fac7-2026-01',
      join(dir, 'callback.json'),
    ]);
    const jws = stdout.trim();
    expect(jws).toMatch(/^[A-Za-z0-9_-]+\.\.[A-Za-z0-9_-]{86}$/);
    const sent: unknown = JSON.parse(await readFile(join(dir, 'callback.json'), 'utf8'));
    const at = '2026-03-01T12:00:00Z';
    const check = (payload: unknown) =>
      verifyInputSignature({ payload, jws, owner: 'ua-factory-07', ring, at });
    expect(check(sent)).toMatchObject({ ok: true, record: { kid: 'fac7-2026-01', alg: 'EdDSA' } });
    expect(check({ ...body, usage: { runtime_minutes: 3.5, llm_calls: 13 } })).toMatchObject({
      ok: false,
      code: 'SIGNATURE_INVALID',
    });
  });
});
