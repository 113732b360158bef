import { spawn } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { createServer, type AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { passwordRefusingServer } from '../support/fake-postgres.ts';
import { TEST_PG_URL, dropSchemas, freshSchemaName, storeUrl } from '../support/postgres.ts';

/*
 * Each mistake a first hour makes, run as a user runs it: `ledger serve` in a child process,
 * configured by the environment. Each must end the process at once with exit code 1 and one line
 * on stderr that names the problem and the fix.
 */

const BIN = new URL('../../bin/ledger.js', import.meta.url).pathname;
const dirs: string[] = [];
const OPERATOR = { token: 'operator-token-of-sixteen-chars-or-more', role: 'operator' };

async function tempDir(): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'ledger-start-'));
  dirs.push(dir);
  return dir;
}

afterAll(async () => {
  await dropSchemas();
  await Promise.all(dirs.map((d) => rm(d, { recursive: true, force: true })));
});

interface Refusal {
  code: number | null;
  /** stderr, which must be exactly one line. */
  line: string;
  lines: number;
}

/** Runs `ledger serve` expecting it to refuse to start; kills it if it is still up after 50 s. */
async function refuses(env: Record<string, string>, cwd?: string): Promise<Refusal> {
  const dir = cwd ?? (await tempDir());
  const child = spawn(process.execPath, [BIN, 'serve'], {
    cwd: dir,
    env: { ...process.env, PORT: '0', LOG_LEVEL: 'warn', ...env },
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  let err = '';
  child.stderr.on('data', (chunk: Buffer) => (err += chunk.toString()));
  const timer = setTimeout(() => child.kill('SIGKILL'), 50_000);
  const code = await new Promise<number | null>((resolve) => child.once('exit', (c) => resolve(c)));
  clearTimeout(timer);
  const lines = err.split('\n').filter((l) => l !== '');
  return { code, line: lines[0] ?? '', lines: lines.length };
}

/** A tokens file holding `content` as written. */
async function tokensFile(content: string): Promise<string> {
  const file = join(await tempDir(), 'tokens.json');
  await writeFile(file, content);
  return file;
}

/** A port some other process holds. */
async function takenPort(): Promise<{ port: number; release: () => void }> {
  const holder = createServer();
  await new Promise<void>((resolve) => holder.listen(0, '127.0.0.1', resolve));
  return { port: (holder.address() as AddressInfo).port, release: () => holder.close() };
}

function testPg(): URL {
  return new URL(TEST_PG_URL);
}

describe('ledger serve refuses to start, in one line, and exits 1', () => {
  it('when its port is in use, before it opens (and locks) its embedded store', async () => {
    const { port, release } = await takenPort();
    try {
      const cwd = await tempDir();
      const data = join(cwd, 'data');
      const refusal = await refuses({ PORT: String(port), LEDGER_STORE: `pglite:${data}` }, cwd);
      expect(refusal).toEqual({
        code: 1,
        line: `ledger: CONFIGURATION_INVALID: port ${port} is in use; set PORT, 0 picks a free one`,
        lines: 1,
      });
      // The store was never opened: the next start finds no directory lock to wait for.
      const next = await refuses({ PORT: String(port), LEDGER_STORE: `pglite:${data}` }, cwd);
      expect(next.line).toContain('is in use; set PORT');
    } finally {
      release();
    }
  });

  it('closes the store it opened when a later step fails, releasing the embedded lock', async () => {
    const cwd = await tempDir();
    const missing = new URL(TEST_PG_URL);
    missing.pathname = '/no_such_read_model_db';
    const env = { LEDGER_STORE: `pglite:${join(cwd, 'data')}`, LEDGER_READ_MODELS: missing.href };
    const first = await refuses(env, cwd);
    expect(first).toEqual({
      code: 1,
      line: expect.stringContaining(
        'Database "no_such_read_model_db" does not exist on PostgreSQL',
      ) as string,
      lines: 1,
    });
    expect(first.line).toContain(`fix the database in LEDGER_READ_MODELS=${missing.href}.`);
    // Had the first process kept the directory, this one would be refused as "in use".
    const second = await refuses(env, cwd);
    expect(second.code).toBe(1);
    expect(second.line).not.toContain('in use');
  }, 120_000); // two starts that each create and migrate an embedded store

  it('when LEDGER_STORE=pglite: names no directory (an unset variable), instead of keeping nothing', async () => {
    expect(await refuses({ LEDGER_STORE: 'pglite:' })).toEqual({
      code: 1,
      line: 'ledger: CONFIGURATION_INVALID: LEDGER_STORE=pglite: names no directory; give one (pglite:./.ledger) or say pglite:memory to keep nothing.',
      lines: 1,
    });
  });

  it('when LEDGER_STORE has a misspelt parameter, instead of writing into another schema', async () => {
    const url = new URL(TEST_PG_URL);
    url.searchParams.set('shema', 'tenant_7');
    const refusal = await refuses({ LEDGER_STORE: url.href });
    expect(refusal.code).toBe(1);
    expect(refusal.lines).toBe(1);
    expect(refusal.line).toMatch(
      /^ledger: CONFIGURATION_INVALID: LEDGER_STORE has unknown parameter "shema"; known: schema, sslmode, /,
    );
  });

  it('when LEDGER_ENV=production runs on a store that does not fsync, unless allowed', async () => {
    const tokens = await tokensFile(JSON.stringify([OPERATOR]));
    const env = {
      LEDGER_ENV: 'production',
      LEDGER_STORE: 'pglite:memory',
      LEDGER_TOKENS_FILE: tokens,
    };
    expect(await refuses(env)).toEqual({
      code: 1,
      line: 'ledger: CONFIGURATION_INVALID: LEDGER_ENV=production needs a store that fsyncs, and LEDGER_STORE=pglite:… does not: use postgres:// (or esdb://), or set LEDGER_ALLOW_UNSAFE_STORE=1 to accept losing events on a crash.',
      lines: 1,
    });
    // Allowed explicitly, the same start gets past the check (and here fails on the port).
    const { port, release } = await takenPort();
    try {
      const allowed = await refuses({ ...env, LEDGER_ALLOW_UNSAFE_STORE: '1', PORT: String(port) });
      expect(allowed.line).toContain(`port ${port} is in use`);
    } finally {
      release();
    }
  });

  describe('when PostgreSQL cannot be opened, saying which failure and its fix', () => {
    it('a closed port', async () => {
      const url = `postgres://postgres@127.0.0.1:1/test?schema=${freshSchemaName()}`;
      expect(await refuses({ LEDGER_STORE: url })).toEqual({
        code: 1,
        line: `ledger: STORE_UNAVAILABLE: PostgreSQL at 127.0.0.1:1 refused the connection (ECONNREFUSED): start it there, or point LEDGER_STORE=${url} at a running server.`,
        lines: 1,
      });
    });

    it('an unknown role', async () => {
      const url = new URL(storeUrl(freshSchemaName()));
      url.username = 'no_such_role';
      url.password = 'hunter2-secret';
      const { hostname, port } = testPg();
      const refusal = await refuses({ LEDGER_STORE: url.href });
      expect(refusal).toEqual({
        code: 1,
        line: `ledger: CONFIGURATION_INVALID: Role "no_such_role" does not exist on PostgreSQL at ${hostname}:${port || '5432'} (28000): create it (createuser -h ${hostname} -p ${port || '5432'} no_such_role) or fix the user in LEDGER_STORE=${url.href.replace('hunter2-secret', '***')}.`,
        lines: 1,
      });
      expect(refusal.line).not.toContain('hunter2');
    });

    it('a missing database', async () => {
      const url = new URL(storeUrl(freshSchemaName()));
      url.pathname = '/no_such_database';
      const { hostname, port } = testPg();
      expect(await refuses({ LEDGER_STORE: url.href })).toEqual({
        code: 1,
        line: `ledger: CONFIGURATION_INVALID: Database "no_such_database" does not exist on PostgreSQL at ${hostname}:${port || '5432'} (3D000): create it (createdb -h ${hostname} -p ${port || '5432'} no_such_database) or fix the database in LEDGER_STORE=${url.href}.`,
        lines: 1,
      });
    });

    it('a wrong password, masked', async () => {
      const server = await passwordRefusingServer();
      try {
        const url = `postgres://app:hunter2-secret@127.0.0.1:${server.port}/ledger`;
        const refusal = await refuses({ LEDGER_STORE: url });
        expect(server.passwords).toEqual(['hunter2-secret']);
        expect(refusal).toEqual({
          code: 1,
          line: `ledger: CONFIGURATION_INVALID: PostgreSQL at 127.0.0.1:${server.port} refused the password of role "app" (28P01): fix the password in LEDGER_STORE=postgres://app:***@127.0.0.1:${server.port}/ledger.`,
          lines: 1,
        });
      } finally {
        await server.close();
      }
    });
  });

  describe('when the tokens file is wrong, saying where or what in plain words', () => {
    it('bad JSON: the line and column, and nothing of the text', async () => {
      const file = await tokensFile(
        '[\n  {"token": "secret-token-value-123", "role": "operator",}\n]\n',
      );
      const refusal = await refuses({ LEDGER_TOKENS_FILE: file, LEDGER_STORE: 'pglite:memory' });
      expect(refusal).toEqual({
        code: 1,
        line: `ledger: CONFIGURATION_INVALID: LEDGER_TOKENS_FILE ${file} is not JSON: an unexpected character at line 2, column 58.`,
        lines: 1,
      });
    });

    it.each([
      [
        'an unknown role',
        [{ token: 'a-token-of-sixteen-chars', role: 'admin' }],
        'entry 1: role must be operator, auditor or factory',
      ],
      [
        'a factory without instance_id',
        [OPERATOR, { token: 'factory-token-of-sixteen', role: 'factory' }],
        'entry 2: factory tokens need instance_id (the factory instance they post for)',
      ],
      [
        'a short token',
        [{ token: 'short-secret', role: 'operator' }],
        'entry 1: token must be at least 16 characters',
      ],
      ['no tokens', [], 'it holds no tokens; list at least one {token, role, instance_id?, name?}'],
    ])('%s', async (_name, entries, problem) => {
      const file = await tokensFile(JSON.stringify(entries));
      const refusal = await refuses({ LEDGER_TOKENS_FILE: file, LEDGER_STORE: 'pglite:memory' });
      expect(refusal).toEqual({
        code: 1,
        line: `ledger: CONFIGURATION_INVALID: LEDGER_TOKENS_FILE ${file} is invalid: ${problem}.`,
        lines: 1,
      });
      expect(refusal.line).not.toContain('secret');
    });
  });
});
