import { spawn } from 'node:child_process';
import { afterEach, describe, expect, it } from 'vitest';
import { missionDispatchedDataSchema } from '../../schemas/index.ts';
import { workspaceKey } from '../../src/domain/mission/workspace.ts';
import { pureProjections, ReadModels } from '../../src/read-models/read-models.ts';
import { verifyReadModels, type VerifyReport } from '../../src/read-models/verify.ts';
import type { EventStore } from '../../src/store/port.ts';
import type { SqlEventStore } from '../../src/store/sql/sql-store.ts';
import { startApp, TOKENS, type TestApp } from '../support/http-app.ts';
import { callbackPayload, dispatchPayload, type Dispatch } from '../support/mission-fixtures.ts';
import { storeUrl, TEST_PG_URL } from '../support/postgres.ts';
import { readModelBackends, type ReadModelFixture } from '../support/read-model-backends.ts';
import { cjk } from '../support/text.ts';

const BIN = new URL('../../bin/ledger.js', import.meta.url).pathname;

const running: (() => Promise<void>)[] = [];
const backends = readModelBackends('rsh_', { pollIntervalMs: 50 });
// Registered after the backends' hooks, so it runs first: stop the runners before closing stores.
afterEach(async () => {
  for (const stop of running.splice(0).reverse()) await stop();
});

interface Served extends ReadModelFixture {
  readModels: ReadModels;
  app: TestApp;
}

async function serve(backend: (typeof backends)[number]): Promise<Served> {
  const fixture = await backend.open();
  const readModels = new ReadModels({ ...fixture, watchMs: 100 });
  await readModels.start();
  const app = await startApp({ store: fixture.store, readModels });
  running.push(
    () => readModels.stop(),
    () => app.close(),
  );
  return { ...fixture, readModels, app };
}

async function caughtUp(s: Served): Promise<number> {
  const head = await s.store.headPosition();
  for (const p of pureProjections) await s.readModels.waitFor(p.name, head, 20_000);
  return head;
}

function verify(s: Served, catchUpWaitMs?: number): Promise<VerifyReport> {
  return verifyReadModels({
    store: s.store,
    db: s.db,
    schema: s.schema,
    projections: pureProjections,
    ...(catchUpWaitMs === undefined ? {} : { catchUpWaitMs }),
  });
}

const PRINCIPAL = { role: 'factory', id: 'ua-factory-07' } as const;

/** Appends a dispatch as the ledger records it, straight to the log (the door may refuse it). */
async function appendDispatch(store: EventStore, dispatch: Dispatch): Promise<void> {
  const session = dispatch.vp_session_id!;
  const data = missionDispatchedDataSchema.parse({
    input: dispatch,
    vp_session_id: session,
    vp_session_allocated: false,
    workspace_key: workspaceKey(dispatch.vp_id, session),
    received_at: new Date().toISOString(),
    principal: { role: 'operator', id: 'ops-alice' },
  });
  await store.append(`mission-${dispatch.mission_id}`, [{ type: 'mission.dispatched', data }]);
}

/** Appends an accepted callback as the ledger records it, straight to the log. */
async function appendCallback(store: EventStore, callback: Record<string, unknown>) {
  const type = callback.event_type as string;
  const data = { callback, received_at: new Date().toISOString(), principal: PRINCIPAL };
  const result = await store.append(`mission-${callback.mission_id as string}`, [{ type, data }]);
  return result.positions[0]!;
}

/** Runs `ledger <args>` with `env`; resolves with its exit code and output. */
function ledger(env: Record<string, string>, ...args: string[]) {
  return new Promise<{ code: number | null; stdout: string; stderr: string }>((resolve) => {
    const child = spawn(process.execPath, [BIN, ...args], {
      env: { ...process.env, LOG_LEVEL: 'silent', ...env },
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
    child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    child.on('close', (code) => resolve({ code, stdout, stderr }));
  });
}

/**
 * What a failed command said on stderr past its progress lines (`  name: n / m`): the failure
 * must be one line, the last, and no stack trace.
 */
function failureLines(stderr: string): string[] {
  expect(stderr).not.toMatch(/\n\s+at /);
  expect(stderr.endsWith('\n')).toBe(true);
  return stderr.split('\n').filter((line) => line !== '' && !/^ {2}\w+: \d+ \/ \d+$/.test(line));
}

/** The CLI's settings for a PostgreSQL fixture: its log and its read-model schema. */
function cliEnv(s: Served): Record<string, string> {
  const schema = (s.store as SqlEventStore).schema;
  const readModels = new URL(TEST_PG_URL);
  readModels.searchParams.set('schema', s.schema);
  return { LEDGER_STORE: storeUrl(schema), LEDGER_READ_MODELS: readModels.toString() };
}

const NUL_SUMMARY = 'waiting\u0000for approval \u0081 \\u0000';

describe.each(backends)('the read side on $name', (backend) => {
  it('stores and serves what the log holds: NUL in a callback, keys and index entries past a btree entry', async () => {
    const s = await serve(backend);
    // A mission dispatched over HTTP whose callbacks reach the log with NULs (as before the door
    // refused them): in the summary, an artifact ref, and an object key of the artifact index.
    const plain = dispatchPayload({ vp_session_id: 'sess-plain' });
    expect(
      (await s.app.call('POST', '/v1/missions', { token: TOKENS.operator, body: plain })).status,
    ).toBe(201);
    const accepted = callbackPayload(plain, { event_type: 'mission.accepted' });
    expect(
      (
        await s.app.call('POST', `/v1/missions/${plain.mission_id}/events`, {
          token: TOKENS.factory,
          body: accepted,
        })
      ).status,
    ).toBe(201);
    await appendCallback(s.store, {
      ...callbackPayload(plain, { event_type: 'mission.blocked' }),
      summary: NUL_SUMMARY,
      artifact_refs: ['s3://bucket/\u0000key'],
    });

    // A mission whose identifiers are (about) 512 three-byte characters: its row key, the VP session's
    // key (two of them) and the (vp_id, dispatched_at, key) index entry exceed 2704 bytes as text.
    const wide = dispatchPayload({
      mission_id: cjk(500, 11), // a stream name holds 512 characters: "mission-" and 504
      vp_id: cjk(512, 12),
      vp_session_id: cjk(512, 13),
      idempotency_key: 'dispatch:wide',
    });
    await appendDispatch(s.store, wide);
    const wideCallback = {
      ...callbackPayload(wide, { event_type: 'mission.accepted' }),
      vp_session_id: wide.vp_session_id,
      idempotency_key: 'accepted:wide',
      summary: `wide\u0000`,
    };
    await appendCallback(s.store, wideCallback);

    const head = await caughtUp(s); // every projection passes both: none stalls
    expect(s.readModels.status().map((r) => [r.name, r.status, r.position])).toEqual(
      pureProjections.map((p) => [p.name, 'running', head]),
    );

    // Readable over HTTP, exactly as the log holds it.
    const list = await s.app.call<{
      missions: Record<string, unknown>[];
      next_cursor: string | null;
    }>('GET', `/v1/missions?limit=1&min_position=${head}`, { token: TOKENS.operator });
    expect(list.status, JSON.stringify(list.body)).toBe(200);
    const page2 = await s.app.call<{
      missions: Record<string, unknown>[];
      next_cursor: string | null;
    }>('GET', `/v1/missions?limit=1&cursor=${list.body.next_cursor}`, { token: TOKENS.operator });
    const missions = [...list.body.missions, ...page2.body.missions];
    expect(missions.map((m) => m.mission_id).sort()).toEqual(
      [plain.mission_id, wide.mission_id].sort(),
    );
    expect(page2.body.next_cursor).toBeNull();
    const plainView = JSON.stringify(missions.find((m) => m.mission_id === plain.mission_id));
    expect(plainView).toContain(JSON.stringify(NUL_SUMMARY).slice(1, -1));
    expect(plainView).toContain('s3://bucket/\\u0000key');

    const byVp = await s.app.call<{ missions: { mission_id: string }[] }>(
      'GET',
      `/v1/missions?vp_id=${encodeURIComponent(wide.vp_id)}`,
      { token: TOKENS.operator },
    );
    expect(byVp.body.missions.map((m) => m.mission_id)).toEqual([wide.mission_id]);
    const budget = await s.app.call('GET', `/v1/budgets/${encodeURIComponent(wide.mission_id)}`, {
      token: TOKENS.operator,
    });
    expect(budget.status).toBe(200);
    expect(budget.body.mission_id).toBe(wide.mission_id);
    const approvals = await s.app.call<{ approvals: Record<string, unknown>[] }>(
      'GET',
      '/v1/dashboards/approvals',
      { token: TOKENS.operator },
    );
    expect(approvals.body.approvals.map((a) => a.summary)).toEqual([NUL_SUMMARY]);

    // A rebuild from position 0 stores the same rows as the live runners did.
    const report = await verify(s);
    expect(
      report.projections.map((p) => [p.projection, p.status]),
      JSON.stringify(report.projections.filter((p) => p.status !== 'identical')),
    ).toEqual(pureProjections.map((p) => [p.name, 'identical']));
    expect(report.identical).toBe(true);

    if (backend.name === 'PostgreSQL') {
      const cli = await ledger(cliEnv(s), 'replay', '--verify');
      expect(cli.stderr).toBe('');
      expect(cli.stdout).toMatch(/identical: all 6 projections equal their rebuild/);
      expect(cli.code).toBe(0);
    }
  }, 90_000);

  it('verification fails on a stalled projection and on lagging ones, naming each', async () => {
    const s = await serve(backend);
    const dispatch = dispatchPayload();
    expect(
      (await s.app.call('POST', '/v1/missions', { token: TOKENS.operator, body: dispatch })).status,
    ).toBe(201);
    // A binding whose data fails its schema: vp_sessions parks it and stalls; nothing else reads it.
    const poison = await s.store.append('vp-session-ws_000000000000000000000000', [
      { type: 'vp_session.mission_bound', data: { vp_id: 'v' } },
    ]);
    const parkedAt = poison.positions[0]!;
    const head = await s.store.headPosition();
    for (const p of pureProjections.filter((x) => x.name !== 'vp_sessions')) {
      await s.readModels.waitFor(p.name, head, 20_000);
    }
    await expect
      .poll(() => s.readModels.status().find((r) => r.name === 'vp_sessions')?.status)
      .toBe('stalled');

    const stalled = await verify(s, 0);
    expect(stalled.identical).toBe(false);
    const vp = stalled.projections.find((p) => p.projection === 'vp_sessions')!;
    expect(vp).toMatchObject({
      status: 'stalled',
      position: parkedAt - 1,
      parked: { position: parkedAt, error: expect.stringContaining('malformed') as unknown },
    });
    expect(stalled.projections.filter((p) => p.status === 'identical')).toHaveLength(5);

    if (backend.name === 'PostgreSQL') {
      const cli = await ledger(cliEnv(s), 'replay', '--verify', '--wait-ms', '0');
      expect(cli.code).toBe(1);
      expect(cli.stdout).toMatch(
        new RegExp(
          `vp_sessions +STALLED +at position ${parkedAt - 1}; parked event at position ${parkedAt}: .*malformed`,
        ),
      );
      expect(cli.stdout).toContain('NOT identical: 5 of 6 projections equal their rebuild');
      // Rebuilding it cannot get past the poison event either: one line, exit 1, no stack.
      const rebuild = await ledger(cliEnv(s), 'projections', 'rebuild', 'vp_sessions');
      expect(rebuild.code).toBe(1);
      expect(failureLines(rebuild.stderr)).toEqual([
        expect.stringMatching(/^ledger: PROJECTION_STALLED: Rebuilding vp_sessions stalled: /),
      ]);
    }

    // The runners stop; the log moves on without them.
    await s.readModels.stop();
    await s.store.append('unrelated', [{ type: 'note.added', data: { n: 1 } }]);
    const started = performance.now();
    const lagging = await verify(s, 300);
    expect(performance.now() - started).toBeGreaterThanOrEqual(300); // it waited for them
    expect(lagging.head).toBe(head + 1);
    expect(lagging.projections.map((p) => [p.projection, p.status, p.position])).toEqual(
      pureProjections.map((p) =>
        p.name === 'vp_sessions' ? [p.name, 'stalled', parkedAt - 1] : [p.name, 'lagging', head],
      ),
    );
    expect(lagging.identical).toBe(false);
  }, 90_000);
});

describe('ledger CLI failures', () => {
  it('print one line on stderr and exit 1, never a stack trace', async () => {
    const env = {
      LEDGER_STORE: storeUrl('rsh_cli_unreachable'),
      LEDGER_READ_MODELS: 'postgres://postgres@127.0.0.1:1/test?schema=rm',
    };
    for (const args of [
      ['projections', 'rebuild', 'budgets'],
      ['replay', '--verify'],
    ]) {
      const result = await ledger(env, ...args);
      expect(result.code, args.join(' ')).toBe(1);
      expect(failureLines(result.stderr), result.stderr).toEqual([
        expect.stringMatching(/^ledger: \S/),
      ]);
    }
  }, 60_000);
});
