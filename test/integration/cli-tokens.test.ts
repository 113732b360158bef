import { mkdtemp, readFile, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { runLedger, startLedger } from '../support/ledger-process.ts';

/* `ledger tokens add` and `ledger --version`, run as a user runs them. */

const dirs: string[] = [];
afterAll(async () => {
  await Promise.all(dirs.map((d) => rm(d, { recursive: true, force: true })));
});

async function tempDir(): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'ledger-tokens-'));
  dirs.push(dir);
  return dir;
}

describe('ledger tokens add', () => {
  it('appends a factory token to the development file, prints it once, and a restarted server accepts it', async () => {
    const cwd = await tempDir();
    const env = { LEDGER_STORE: 'pglite:memory' };
    const added = await runLedger(
      ['tokens', 'add', '--role', 'factory', '--instance', 'ua-factory-07', '--name', 'f7'],
      { cwd, env },
    );
    expect(added.code).toBe(0);
    const token = added.stdout.trim();
    expect(added.stdout).toBe(`${token}\n`);
    expect(token.length).toBeGreaterThanOrEqual(40);
    const path = join(cwd, '.ledger-dev-tokens.json');
    expect(added.stderr).toContain(path);
    expect(added.stderr).toContain('restart it');
    expect(added.stderr).not.toContain(token);
    // The file `ledger serve` would have created, with the new entry after its operator token.
    const entries = JSON.parse(await readFile(path, 'utf8')) as Record<string, string>[];
    expect(entries.map((e) => e.role)).toEqual(['operator', 'factory']);
    expect(entries[1]).toEqual({
      token,
      role: 'factory',
      instance_id: 'ua-factory-07',
      name: 'f7',
    });
    expect((await stat(path)).mode & 0o777).toBe(0o600);

    const served = await startLedger(env, cwd);
    try {
      const read = await fetch(`${served.url}/v1/missions/msn_not_here`, {
        headers: { authorization: `Bearer ${token}` },
      });
      // Authenticated as a factory: told the mission does not exist, not that the token is unknown.
      expect(read.status).toBe(404);
    } finally {
      expect(await served.stop()).toBe(0);
    }
  }, 120_000);

  it('refuses a factory token without an instance, or an unknown role, in one line, writing nothing', async () => {
    const cwd = await tempDir();
    const env = { LEDGER_STORE: 'pglite:memory' };
    const first = await runLedger(['tokens', 'add', '--role', 'auditor'], { cwd, env });
    expect(first.code).toBe(0);
    const path = join(cwd, '.ledger-dev-tokens.json');
    const before = await readFile(path, 'utf8');

    const noInstance = await runLedger(['tokens', 'add', '--role', 'factory'], { cwd, env });
    expect(noInstance.code).toBe(1);
    expect(noInstance.stdout).toBe('');
    expect(noInstance.stderr).toBe(
      'ledger: CONFIGURATION_INVALID: A factory token is bound to one instance: add --instance ID.\n',
    );
    const badRole = await runLedger(['tokens', 'add', '--role', 'admin'], { cwd, env });
    expect(badRole.code).toBe(1);
    expect(badRole.stderr.split('\n')[0]).toBe(
      "error: option '--role <role>' argument 'admin' is invalid. Allowed choices are operator, factory, auditor.",
    );
    expect(badRole.stderr).not.toMatch(/^\s+at /m);
    expect(await readFile(path, 'utf8')).toBe(before);
  }, 60_000);
});

describe('ledger --version', () => {
  it('prints the version of package.json', async () => {
    const pkg = JSON.parse(
      await readFile(new URL('../../package.json', import.meta.url), 'utf8'),
    ) as { version: string };
    const run = await runLedger(['--version'], { cwd: await tempDir() });
    expect(run.code).toBe(0);
    expect(run.stdout).toBe(`${pkg.version}\n`);
  });
});
