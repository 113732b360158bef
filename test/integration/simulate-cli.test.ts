import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import { runLedger } from '../support/ledger-process.ts';

/* `ledger simulate`, run as a user runs it, on the committed fixtures. */

const traces = fileURLToPath(new URL('../../fixtures/traces/', import.meta.url));
const BASIC = join(traces, 'simulate-basic.jsonl');

const dirs: string[] = [];
afterAll(async () => {
  await Promise.all(dirs.map((d) => rm(d, { recursive: true, force: true })));
});

async function tempDir(): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'ledger-simulate-'));
  dirs.push(dir);
  return dir;
}

describe('ledger simulate', () => {
  it('writes the fixture report byte for byte with --out, and prints the same with --json', async () => {
    const cwd = await tempDir();
    const out = join(cwd, 'report.json');
    const args = ['--trace', BASIC, '--profile', 'control-plane-strict-v1', '--env', 'production'];
    const run = await runLedger(['simulate', ...args, '--out', out, '--json'], { cwd });
    expect(run.code).toBe(0);
    const expected = await readFile(
      join(traces, 'simulate-basic.control-plane-strict-v1.production.report.json'),
      'utf8',
    );
    expect(await readFile(out, 'utf8')).toBe(expected);
    expect(run.stdout).toBe(expected);
  }, 60_000);

  it('prints a readable summary by default; a profile file is taken as well as a shipped id', async () => {
    const cwd = await tempDir();
    const { development } = await import('../../src/policy/profiles/development.ts');
    const profileFile = join(cwd, 'dev.json');
    await writeFile(profileFile, JSON.stringify(development));
    const run = await runLedger(
      ['simulate', '--trace', BASIC, '--profile', profileFile, '--env', 'development'],
      { cwd },
    );
    expect(run.code).toBe(0);
    expect(run.stdout).toContain('simulated 12 inputs under development');
    expect(run.stdout).toContain('outcomes: 7 accepted, 2 rejected, 2 duplicate, 1 skipped');
    expect(run.stdout).toContain('differences from recorded outcomes: 0 of 11 compared');
    const report = JSON.parse(
      await readFile(join(traces, 'simulate-basic.development.development.report.json'), 'utf8'),
    ) as { log: { sha256: string } };
    expect(run.stdout).toContain(`sha256 ${report.log.sha256}`);
  }, 60_000);

  it('fails in one line naming the trace line that is bad', async () => {
    const cwd = await tempDir();
    const lines = (await readFile(BASIC, 'utf8')).trim().split('\n');
    const bad = join(cwd, 'bad.jsonl');
    await writeFile(bad, `${lines[0]}\n${lines[2]}\n`);
    const run = await runLedger(
      ['simulate', '--trace', bad, '--profile', 'development', '--env', 'development'],
      { cwd },
    );
    expect(run.code).toBe(1);
    expect(run.stderr).toBe('ledger: TraceLineError: trace line 2: seq is 3, expected 2\n');
    expect(run.stdout).toBe('');
  }, 60_000);

  it('refuses an unknown environment or profile', async () => {
    const cwd = await tempDir();
    const env = await runLedger(
      ['simulate', '--trace', BASIC, '--profile', 'development', '--env', 'prod'],
      { cwd },
    );
    expect(env.code).toBe(1);
    expect(env.stderr).toContain('--env takes development, staging, production');
    const profile = await runLedger(
      ['simulate', '--trace', BASIC, '--profile', 'strictest', '--env', 'production'],
      { cwd },
    );
    expect(profile.code).toBe(1);
    expect(profile.stderr).toContain('neither a shipped profile');
  }, 60_000);
});
