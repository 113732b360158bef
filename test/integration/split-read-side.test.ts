import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { dispatchPayload } from '../support/mission-fixtures.ts';
import { runLedger, startLedger, type ServedLedger } from '../support/ledger-process.ts';
import { dropSchemas, freshSchemaName, storeUrl } from '../support/postgres.ts';

/*
 * The read side outside the serving process, as an operator runs it: `ledger serve
 * --no-projections` answers commands and reads, `ledger projector` writes the read models, and a
 * read with `min_position` in one process waits for a write that another process projects.
 */

const OPERATOR = 'split-operator-token-0123456789';
const dirs: string[] = [];
const running: ServedLedger[] = [];

afterEach(async () => {
  for (const p of running.splice(0)) await p.stop();
});
afterAll(async () => {
  await dropSchemas();
  await Promise.all(dirs.map((d) => rm(d, { recursive: true, force: true })));
});

async function setUp(): Promise<{ cwd: string; env: Record<string, string> }> {
  const cwd = await mkdtemp(join(tmpdir(), 'ledger-split-'));
  dirs.push(cwd);
  const tokens = join(cwd, 'tokens.json');
  await writeFile(tokens, JSON.stringify([{ token: OPERATOR, role: 'operator', name: 'op' }]));
  const env = {
    LEDGER_STORE: storeUrl(freshSchemaName('split')),
    LEDGER_TOKENS_FILE: tokens,
    LEDGER_MIN_POSITION_WAIT_MS: '4000',
  };
  return { cwd, env };
}

async function start(env: Record<string, string>, cwd: string, ...args: string[]) {
  const p = await startLedger(env, cwd, args);
  running.push(p);
  return p;
}

/** The fields of the answers this test reads. */
interface Answer {
  position?: number;
  mission_id?: string;
  missions?: { mission_id: string }[];
  as_of_position?: number;
  projections?: { status: string; active: boolean; lag: number }[];
  error?: { code: string };
}

async function call(base: string, method: string, path: string, body?: unknown) {
  const res = await fetch(`${base}/v1${path}`, {
    method,
    headers: {
      authorization: `Bearer ${OPERATOR}`,
      ...(body === undefined ? {} : { 'content-type': 'application/json' }),
    },
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
  });
  return { status: res.status, body: (await res.json()) as Answer };
}

async function dispatch(base: string) {
  const payload = dispatchPayload();
  const res = await call(base, 'POST', '/missions', payload);
  expect(res.status, JSON.stringify(res.body)).toBe(201);
  return { missionId: payload.mission_id, position: res.body.position! };
}

describe('the read side outside the serving process (PostgreSQL)', () => {
  it('serve --no-projections reads what a projector writes, with min_position across processes; a standby projector takes over', async () => {
    const { cwd, env } = await setUp();
    const api = await start(env, cwd, 'serve', '--no-projections');
    expect(api.stderr()).toMatch(/projections\s+run elsewhere/);

    // No projector yet: a read that needs the write cannot be served, and says why.
    const first = await dispatch(api.url);
    const lagging = await call(
      api.url,
      'GET',
      `/budgets/${first.missionId}?min_position=${first.position}`,
    );
    expect(lagging.status).toBe(503);
    expect(lagging.body.error?.code).toBe('PROJECTION_LAGGING');

    const projector = await start(env, cwd, 'projector');
    expect(projector.stderr()).toContain('mission-ledger projector');
    const served = await call(
      api.url,
      'GET',
      `/budgets/${first.missionId}?min_position=${first.position}`,
    );
    expect(served.status, JSON.stringify(served.body)).toBe(200);
    expect(served.body.mission_id).toBe(first.missionId);

    // Read-your-writes right after each write, every time.
    for (let i = 0; i < 5; i += 1) {
      const { missionId, position } = await dispatch(api.url);
      const list = await call(api.url, 'GET', `/missions?min_position=${position}&limit=1000`);
      expect(list.status).toBe(200);
      expect(list.body.missions!.map((m) => m.mission_id)).toContain(missionId);
      expect(list.body.as_of_position).toBeGreaterThanOrEqual(position);
    }

    // The serving process runs no projection: it reports the checkpoints the projector moves.
    await expect
      .poll(async () => (await call(api.url, 'GET', '/projections')).body.projections, {
        timeout: 5_000,
      })
      .toSatisfy((list: Answer['projections']) =>
        list!.every((p) => p.status === 'running' && !p.active && p.lag === 0),
      );

    // A standby projector takes over when the leader stops.
    const standby = await start(env, cwd, 'projector');
    expect(await projector.stop()).toBe(0);
    running.splice(running.indexOf(projector), 1);
    const after = await dispatch(api.url);
    const taken = await call(
      api.url,
      'GET',
      `/budgets/${after.missionId}?min_position=${after.position}`,
    );
    expect(taken.status, JSON.stringify(taken.body)).toBe(200);
    expect(standby.stderr()).not.toMatch(/error/i);

    // `ledger projections status` agrees.
    const status = await runLedger(['projections', 'status'], { cwd, env });
    expect(status.code).toBe(0);
    expect(status.stdout).toMatch(/mission_state\s+running\s+position \d+ \(lag 0\)/);
  }, 90_000);

  it('refuses to split the read side on the embedded and in-memory stores', async () => {
    const cwd = await mkdtemp(join(tmpdir(), 'ledger-split-'));
    dirs.push(cwd);
    for (const store of ['pglite:memory', 'memory:']) {
      for (const args of [['serve', '--no-projections'], ['projector']]) {
        const run = await runLedger(args, { cwd, env: { LEDGER_STORE: store, PORT: '0' } });
        expect(run.code, run.stderr).toBe(1);
        expect(run.stderr).toMatch(
          /^ledger: CONFIGURATION_INVALID: .*needs a store several processes share/,
        );
        expect(run.stderr.trim().split('\n')).toHaveLength(1);
      }
    }
  }, 60_000);
});
