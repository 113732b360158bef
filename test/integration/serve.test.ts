import { spawn } from 'node:child_process';
import { mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { dropSchemas, freshSchemaName, storeUrl } from '../support/postgres.ts';
import type { MissionUsage } from '../../schemas/lifecycle-event.ts';
import { callbackPayload, dispatchPayload } from '../support/mission-fixtures.ts';
import { LEDGER_BIN, startLedger } from '../support/ledger-process.ts';

/*
 * `ledger serve` as a user runs it: a child process, configured by the environment.
 */

const BIN = LEDGER_BIN;
const dirs: string[] = [];

async function tempDir(): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'ledger-serve-'));
  dirs.push(dir);
  return dir;
}

/** Starts `ledger serve` on a free port and waits for its banner. */
const serve = startLedger;

/** Runs `ledger serve` expecting it to refuse to start. */
async function refuses(
  env: Record<string, string>,
  cwd: string,
): Promise<{ code: number | null; stderr: string }> {
  const child = spawn(process.execPath, [BIN, 'serve'], {
    cwd,
    env: { ...process.env, PORT: '0', ...env },
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  let err = '';
  child.stderr?.on('data', (chunk: Buffer) => (err += chunk.toString()));
  const code = await new Promise<number | null>((resolve) => child.once('exit', (c) => resolve(c)));
  return { code, stderr: err };
}

afterAll(async () => {
  await dropSchemas();
  await Promise.all(dirs.map((d) => rm(d, { recursive: true, force: true })));
});

describe('ledger serve', () => {
  it('refuses to start in production without a tokens file', async () => {
    const cwd = await tempDir();
    const { code, stderr } = await refuses(
      { LEDGER_ENV: 'production', LEDGER_STORE: 'pglite:memory', LEDGER_ALLOW_UNSAFE_STORE: '1' },
      cwd,
    );
    expect(code).toBe(1);
    expect(stderr).toContain('CONFIGURATION_INVALID');
    expect(stderr).toContain('LEDGER_TOKENS_FILE');
  });

  it('refuses an invalid tokens file without printing a token', async () => {
    const cwd = await tempDir();
    const file = join(cwd, 'tokens.json');
    await writeFile(file, JSON.stringify([{ token: 'short-secret', role: 'operator' }]));
    const { code, stderr } = await refuses(
      { LEDGER_TOKENS_FILE: file, LEDGER_STORE: 'pglite:memory' },
      cwd,
    );
    expect(code).toBe(1);
    expect(stderr).toContain('CONFIGURATION_INVALID');
    expect(stderr).not.toContain('short-secret');
  });

  it('creates a development operator token once, private to its owner, and reuses it', async () => {
    const cwd = await tempDir();
    const first = await serve({ LEDGER_STORE: 'pglite:memory' }, cwd);
    const path = join(cwd, '.ledger-dev-tokens.json');
    expect(first.stderr()).toContain(path);
    expect(first.stderr()).toContain('created now');
    const tokens = JSON.parse(await readFile(path, 'utf8')) as { token: string; role: string }[];
    expect(tokens).toHaveLength(1);
    expect(tokens[0]!.role).toBe('operator');
    expect((await stat(path)).mode & 0o777).toBe(0o600);
    const ok = await fetch(`${first.url}/v1/events?limit=1`, {
      headers: { authorization: `Bearer ${tokens[0]!.token}` },
    });
    expect(ok.status).toBe(200);
    first.child.kill('SIGTERM');
    expect(await first.exited).toBe(0);

    const second = await serve({ LEDGER_STORE: 'pglite:memory' }, cwd);
    expect(second.stderr()).not.toContain('created now');
    expect(JSON.parse(await readFile(path, 'utf8'))).toEqual(tokens);
    second.child.kill('SIGTERM');
    expect(await second.exited).toBe(0);
  });

  it('serves a memory: store, its read models in memory beside it', async () => {
    const cwd = await tempDir();
    const served = await serve({ LEDGER_STORE: 'memory:' }, cwd);
    expect(served.stderr()).toMatch(/store\s+memory: \(in memory: nothing is kept after exit/);
    expect(served.stderr()).toContain('in-memory PGlite beside the log');
    const token = (
      JSON.parse(await readFile(join(cwd, '.ledger-dev-tokens.json'), 'utf8')) as {
        token: string;
      }[]
    )[0]!.token;
    const dispatch = dispatchPayload({ vp_session_id: 'vps_memory' });
    const created = await fetch(`${served.url}/v1/missions`, {
      method: 'POST',
      headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
      body: JSON.stringify(dispatch),
    });
    expect(created.status).toBe(201);
    const { position } = (await created.json()) as { position: number };
    // Position 1 is the policy activation the server recorded when it started.
    expect(position).toBe(2);
    const listed = await fetch(`${served.url}/v1/missions?min_position=${position}`, {
      headers: { authorization: `Bearer ${token}` },
    });
    expect(listed.status).toBe(200);
    const body = (await listed.json()) as {
      missions: { mission_id: string }[];
      as_of_position: number;
    };
    expect(body.missions.map((m) => m.mission_id)).toEqual([dispatch.mission_id]);
    expect(body.as_of_position).toBe(2);
    served.child.kill('SIGTERM');
    expect(await served.exited).toBe(0);
  });

  it('refuses LEDGER_READ_MODELS with a memory: store, whose read models must not outlive it', async () => {
    const cwd = await tempDir();
    const { code, stderr } = await refuses(
      { LEDGER_STORE: 'memory:', LEDGER_READ_MODELS: storeUrl(freshSchemaName()) },
      cwd,
    );
    expect(code).toBe(1);
    expect(stderr).toContain(
      'CONFIGURATION_INVALID: LEDGER_READ_MODELS must be unset with LEDGER_STORE=memory:',
    );
  });

  it('brings up one of three servers started at once on a PGlite directory after a kill -9', async () => {
    const cwd = await tempDir();
    const env = { LEDGER_STORE: `pglite:${join(cwd, 'data')}` };
    const killed = await serve(env, cwd);
    killed.child.kill('SIGKILL');
    await killed.exited;

    const starts = await Promise.allSettled([serve(env, cwd), serve(env, cwd), serve(env, cwd)]);
    const up = starts.flatMap((s) => (s.status === 'fulfilled' ? [s.value] : []));
    const refused = starts.flatMap((s) => (s.status === 'rejected' ? [String(s.reason)] : []));
    expect(up).toHaveLength(1);
    expect(refused).toHaveLength(2);
    const winner = up[0]!;
    for (const reason of refused) {
      expect(reason).toMatch(
        new RegExp(
          `exited with 1: ledger: CONFIGURATION_INVALID: The embedded store \\S+ is in use by (process ${winner.child.pid}|another process): stop it first`,
        ),
      );
    }
    const token = (
      JSON.parse(await readFile(join(cwd, '.ledger-dev-tokens.json'), 'utf8')) as {
        token: string;
      }[]
    )[0]!.token;
    const ok = await fetch(`${winner.url}/v1/events?limit=1`, {
      headers: { authorization: `Bearer ${token}` },
    });
    expect(ok.status).toBe(200);
    winner.child.kill('SIGTERM');
    expect(await winner.exited).toBe(0);
  }, 120_000); // four server starts, three of them at once

  it('ends open event streams on SIGTERM instead of waiting for them forever', async () => {
    const cwd = await tempDir();
    const served = await serve({ LEDGER_STORE: 'pglite:memory' }, cwd);
    const token = (
      JSON.parse(await readFile(join(cwd, '.ledger-dev-tokens.json'), 'utf8')) as {
        token: string;
      }[]
    )[0]!.token;
    const stream = await fetch(`${served.url}/v1/events/stream`, {
      headers: { authorization: `Bearer ${token}` },
    });
    expect(stream.status).toBe(200);
    const reader = stream.body!.getReader();
    await reader.read(); // the stream is open (its first chunk, the retry hint, arrived)
    served.child.kill('SIGTERM');
    expect(await served.exited).toBe(0);
    // The server ended the stream cleanly: the client reads to its end.
    let done = false;
    while (!done) done = (await reader.read()).done;
  });

  it('answers every request it accepted before a SIGTERM, and appended exactly those', async () => {
    const cwd = await tempDir();
    const dispatch = dispatchPayload({ vp_session_id: 'vps_shutdown' });
    const file = join(cwd, 'tokens.json');
    const operator = 'operator-token-for-shutdown-test';
    const factory = 'factory-token-for-shutdown-test';
    await writeFile(
      file,
      JSON.stringify([
        { token: operator, role: 'operator' },
        { token: factory, role: 'factory', instance_id: dispatch.target_instance_id },
      ]),
    );
    const store = storeUrl(freshSchemaName());
    const served = await serve({ LEDGER_STORE: store, LEDGER_TOKENS_FILE: file }, cwd);
    const post = (path: string, token: string, body: unknown) =>
      fetch(`${served.url}/v1${path}`, {
        method: 'POST',
        headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
        body: JSON.stringify(body),
      });
    expect((await post('/missions', operator, dispatch)).status).toBe(201);
    const accepted = callbackPayload(dispatch, { event_type: 'mission.accepted' });
    expect((await post(`/missions/${dispatch.mission_id}/events`, factory, accepted)).status).toBe(
      201,
    );

    const usage = accepted.usage as MissionUsage;
    const inFlight = Array.from({ length: 40 }, () =>
      post(
        `/missions/${dispatch.mission_id}/events`,
        factory,
        callbackPayload(dispatch, { event_type: 'mission.progress', usage }),
      ).then(
        (res) => res.status,
        () => 'not delivered' as const,
      ),
    );
    await new Promise((resolve) => setTimeout(resolve, 30));
    served.child.kill('SIGTERM');
    const statuses = await Promise.all(inFlight);
    expect(await served.exited).toBe(0);
    // Every request the server took was answered with success: none was cut off half-way.
    expect(statuses.every((s) => s === 201 || s === 'not delivered')).toBe(true);

    const again = await serve({ LEDGER_STORE: store, LEDGER_TOKENS_FILE: file }, cwd);
    const timeline = (await (
      await fetch(`${again.url}/v1/missions/${dispatch.mission_id}/events?limit=1000`, {
        headers: { authorization: `Bearer ${operator}` },
      })
    ).json()) as { events: { type: string }[] };
    const progress = timeline.events.filter((e) => e.type === 'mission.progress').length;
    expect(progress).toBe(statuses.filter((s) => s === 201).length);
    again.child.kill('SIGTERM');
    expect(await again.exited).toBe(0);
  });
});
