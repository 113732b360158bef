import { createPrivateKey, createPublicKey } from 'node:crypto';
import { mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runLedger, startLedger, type ServedLedger } from '../support/ledger-process.ts';

/*
 * `ledger keys ...` as a user runs them: `generate` offline, the others beside a running
 * `ledger serve` on the embedded store, through its HTTP API.
 */

const OPERATOR = `op_${'o'.repeat(40)}`;
const AUDITOR = `au_${'a'.repeat(40)}`;

describe('ledger keys', () => {
  let cwd: string;
  let served: ServedLedger;
  let env: Record<string, string>;
  const ledger = (...args: string[]) => runLedger([...args, '--url', served.url], { cwd, env });

  beforeAll(async () => {
    cwd = await mkdtemp(join(tmpdir(), 'ledger-keys-'));
    const tokens = join(cwd, 'tokens.json');
    await writeFile(
      tokens,
      JSON.stringify([
        { token: OPERATOR, role: 'operator', name: 'alice' },
        { token: AUDITOR, role: 'auditor', name: 'bob' },
      ]),
    );
    env = { LEDGER_STORE: `pglite:${join(cwd, 'data')}`, LEDGER_TOKENS_FILE: tokens };
    served = await startLedger(env, cwd);
  });
  afterAll(async () => {
    await served?.stop();
    await rm(cwd, { recursive: true, force: true });
  });

  it('generates a key pair, registers, lists and revokes it', async () => {
    const out = join(cwd, 'factory.pem');
    const generated = await runLedger(['keys', 'generate', '--out', out], { cwd, env });
    expect(generated.code).toBe(0);
    const publicKey = generated.stdout.trim();
    expect(publicKey).toMatch(/^[A-Za-z0-9_-]{43}$/);
    expect((await stat(out)).mode & 0o777).toBe(0o600);
    const privateKey = createPrivateKey(await readFile(out, 'utf8'));
    expect(createPublicKey(privateKey).export({ format: 'jwk' }).x).toBe(publicKey);
    const again = await runLedger(['keys', 'generate', '--out', out], { cwd, env });
    expect(again.code).toBe(1);
    expect(again.stderr).toMatch(/exists/);

    const add = ['keys', 'add', '--id', 'fac7-1', '--owner', 'ua-factory-07'];
    const added = await ledger(...add, '--public-key', publicKey);
    expect(added.stderr).toBe('');
    expect(added.stdout).toMatch(/^registered fac7-1 at position \d+\n$/);
    expect((await ledger(...add, '--public-key', publicKey)).stdout).toMatch(/^already registered/);

    const listed = await ledger('keys', 'list');
    expect(listed.stdout).toMatch(/^fac7-1\s+ua-factory-07\s+active\s/m);

    const revoked = await ledger('keys', 'revoke', 'fac7-1', '--reason', 'Rotated.');
    expect(revoked.stdout).toMatch(/^revoked fac7-1/);
    expect((await ledger('keys', 'list')).stdout).toMatch(/^fac7-1\s+ua-factory-07\s+revoked\s/m);
  });

  it('says why a change is refused, in one line', async () => {
    const auditor = await ledger('keys', 'revoke', 'fac7-1', '--reason', 'x', '--token', AUDITOR);
    expect(auditor.code).toBe(1);
    expect(auditor.stderr).toMatch(/^ledger: FORBIDDEN: .*\n$/);
    const unknown = await ledger('keys', 'revoke', 'nope', '--reason', 'x');
    expect(unknown.stderr).toBe('ledger: NOT_FOUND: No signing key "nope".\n');
  });
});
