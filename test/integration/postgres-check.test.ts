import { spawn } from 'node:child_process';
import { describe, expect, it } from 'vitest';

/*
 * `npm test` checks PostgreSQL once, in vitest's global setup, before any test file runs. A run
 * against a PostgreSQL it cannot use fails at once with one line of advice and runs no test.
 */

const VITEST = new URL('../../node_modules/vitest/vitest.mjs', import.meta.url).pathname;
const ROOT = new URL('../..', import.meta.url).pathname;

async function vitestWith(url: string): Promise<{ code: number | null; output: string }> {
  const child = spawn(
    process.execPath,
    [VITEST, 'run', 'test/unit/json-syntax-error.test.ts', '--reporter=default'],
    {
      cwd: ROOT,
      env: { ...process.env, LEDGER_TEST_PG_URL: url, NO_COLOR: '1', FORCE_COLOR: '0' },
      stdio: ['ignore', 'pipe', 'pipe'],
    },
  );
  let output = '';
  child.stdout.on('data', (chunk: Buffer) => (output += chunk.toString()));
  child.stderr.on('data', (chunk: Buffer) => (output += chunk.toString()));
  const code = await new Promise<number | null>((resolve) => child.once('exit', (c) => resolve(c)));
  return { code, output };
}

describe('the test run checks PostgreSQL first', () => {
  it.each([
    [
      'not running',
      'postgres://postgres@127.0.0.1:1/test',
      'Error: PostgreSQL is required for the tests: PostgreSQL at 127.0.0.1:1 refused the connection (ECONNREFUSED): start it there, or point LEDGER_TEST_PG_URL=postgres://postgres@127.0.0.1:1/test at a running server. On Debian or Ubuntu: pg_ctlcluster <version> main start.',
    ],
    [
      'a missing database (not "start it")',
      'postgres://postgres@127.0.0.1:5432/no_such_test_db',
      'Error: PostgreSQL is required for the tests: Database "no_such_test_db" does not exist on PostgreSQL at 127.0.0.1:5432 (3D000): create it (createdb -h 127.0.0.1 -p 5432 no_such_test_db) or fix the database in LEDGER_TEST_PG_URL=postgres://postgres@127.0.0.1:5432/no_such_test_db.',
    ],
    [
      'a malformed LEDGER_TEST_PG_URL',
      'localhost:5432/test',
      'Error: PostgreSQL is required for the tests: LEDGER_TEST_PG_URL is not a postgres:// URL; set it like postgres://postgres@127.0.0.1:5432/test, or unset it for that default.',
    ],
  ])('%s: fails once, at once, with the advice', async (_name, url, line) => {
    const { code, output } = await vitestWith(url);
    expect(code).toBe(1);
    expect(output.split('\n')).toContain(line);
    expect(output).not.toMatch(/Tests\s+\d+ (passed|failed)/);
  });
});
