import { spawn } from 'node:child_process';
import { mkdir, mkdtemp, readFile, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { LEDGER_BIN, startLedger } from '../support/ledger-process.ts';
import { dropSchemas, freshSchemaName, storeUrl } from '../support/postgres.ts';
import {
  RECORDING_PRELUDE,
  answerMismatches,
  expectedCalls,
  recordedCalls,
  walkthroughBlocks,
} from '../support/walkthrough.ts';

/*
 * docs/api.md's walkthrough, run as written by a reader: from a directory that looks like the
 * repository root to its commands (fixtures/, `npx ledger`, the development tokens file), against
 * `ledger serve` on an empty PostgreSQL schema. Each curl's status and the answer it shows in its
 * `# NNN …` comment must be what the server answers.
 */

const REPO = new URL('../../', import.meta.url).pathname;
const dirs: string[] = [];

afterAll(async () => {
  await Promise.all(dirs.map((d) => rm(d, { recursive: true, force: true })));
  await dropSchemas();
});

/** A reader's checkout as the walkthrough uses it: fixtures/ and `npx ledger` resolve here. */
async function readerDirectory(): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'ledger-walkthrough-'));
  dirs.push(dir);
  await symlink(join(REPO, 'fixtures'), join(dir, 'fixtures'));
  await mkdir(join(dir, 'node_modules', '.bin'), { recursive: true });
  await symlink(LEDGER_BIN, join(dir, 'node_modules', '.bin', 'ledger'));
  await mkdir(join(dir, 'record'));
  return dir;
}

/** Runs `script` with bash after the recording prelude; its exit code and output. */
async function runBash(
  script: string,
  cwd: string,
  env: Record<string, string>,
): Promise<{ code: number | null; output: string }> {
  const file = join(cwd, `walkthrough-${Date.now()}.sh`);
  await writeFile(file, `${RECORDING_PRELUDE}\n${script}\n`);
  const child = spawn('bash', [file], { cwd, env, stdio: ['ignore', 'pipe', 'pipe'] });
  let output = '';
  child.stdout.on('data', (chunk: Buffer) => (output += chunk.toString()));
  child.stderr.on('data', (chunk: Buffer) => (output += chunk.toString()));
  const code = await new Promise<number | null>((resolve) => child.once('close', resolve));
  return { code, output };
}

describe('docs/api.md walkthrough', () => {
  it('runs as written against a live server, each curl getting the status and answer its comment shows', async () => {
    const blocks = walkthroughBlocks(await readFile(join(REPO, 'docs/api.md'), 'utf8'));
    expect(blocks.beforeServe.length).toBeGreaterThan(0);
    expect(blocks.served.length).toBeGreaterThan(0);
    const before = blocks.beforeServe.join('\n');
    const served = blocks.served.join('\n');
    const expected = expectedCalls(`${before}\n${served}`);

    const cwd = await readerDirectory();
    const record = join(cwd, 'record');
    // The reader's environment: no ledger settings of the test run's own, and no registry lookups
    // should `npx ledger` fail to resolve the local command.
    const env: Record<string, string> = { WALKTHROUGH_RECORD: record, npm_config_offline: 'true' };
    for (const [key, value] of Object.entries(process.env)) {
      if (value !== undefined && !key.startsWith('LEDGER_') && key !== 'PORT') env[key] = value;
    }

    const setup = await runBash(before, cwd, env);
    expect(setup.code, setup.output).toBe(0);

    const server = await startLedger({ LEDGER_STORE: storeUrl(freshSchemaName('walk')) }, cwd);
    try {
      const port = new URL(server.url).port;
      const run = await runBash(served, cwd, { ...env, PORT: port });
      expect(run.code, run.output).toBe(0);
    } finally {
      expect(await server.stop()).toBe(0);
    }

    const recorded = await recordedCalls(record);
    expect(recorded.map((c) => c.status)).toEqual(expected.map((c) => c.status));
    const mismatches = expected.flatMap((call, i) =>
      answerMismatches(call.answer, recorded[i]!.body).map((p) => `${call.command}: ${p}`),
    );
    expect(mismatches).toEqual([]);
  }, 120_000);
});
