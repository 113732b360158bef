import { spawn } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { callbackPayload, dispatchPayload, type Dispatch } from '../support/mission-fixtures.ts';
import {
  LEDGER_BIN,
  runLedger,
  startLedger,
  type ServedLedger,
} from '../support/ledger-process.ts';
import { dropSchemas, freshSchemaName, storeUrl } from '../support/postgres.ts';

/*
 * The read commands (`missions list|show`, `events tail`) as a user runs them: child processes
 * beside a running `ledger serve`, on PostgreSQL and on the embedded store whose directory the
 * server holds locked.
 */

const OPERATOR = `op_${'o'.repeat(40)}`;
const FACTORY = `fa_${'f'.repeat(40)}`;
const dirs: string[] = [];

afterAll(async () => {
  await dropSchemas();
  await Promise.all(dirs.map((d) => rm(d, { recursive: true, force: true })));
});

/** No stack trace: no `    at …` frame and no source path. */
const noStack = (text: string) => {
  expect(text).not.toMatch(/^\s+at /m);
  expect(text).not.toMatch(/\.ts:\d+/);
};

const layouts = [
  { name: 'PostgreSQL', store: () => storeUrl(freshSchemaName('cli')) },
  { name: 'the embedded store', store: (cwd: string) => `pglite:${join(cwd, 'data')}` },
];

describe.each(layouts)('ledger missions and events beside a server on $name', (layout) => {
  let cwd: string;
  let served: ServedLedger;
  let env: Record<string, string>;
  let dispatch: Dispatch;

  const post = async (path: string, token: string, body: unknown) => {
    const response = await fetch(`${served.url}/v1${path}`, {
      method: 'POST',
      headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
      body: JSON.stringify(body),
    });
    return (await response.json()) as { position?: number };
  };
  const ledger = (...args: string[]) => runLedger([...args, '--url', served.url], { cwd, env });

  beforeAll(async () => {
    cwd = await mkdtemp(join(tmpdir(), 'ledger-cli-'));
    dirs.push(cwd);
    const tokens = join(cwd, 'tokens.json');
    await writeFile(
      tokens,
      JSON.stringify([
        { token: OPERATOR, role: 'operator', name: 'alice' },
        { token: FACTORY, role: 'factory', instance_id: 'ua-factory-07' },
      ]),
    );
    // The CLI finds its token in the same file the server reads.
    env = { LEDGER_STORE: layout.store(cwd), LEDGER_TOKENS_FILE: tokens };
    served = await startLedger(env, cwd);
    dispatch = dispatchPayload({ target_instance_id: 'ua-factory-07' });
    await post('/missions', OPERATOR, dispatch);
    await post(
      `/missions/${dispatch.mission_id}/events`,
      FACTORY,
      callbackPayload(dispatch, { event_type: 'mission.accepted' }),
    );
    // Illegal from running: recorded as mission.callback_rejected with its reason.
    await post(
      `/missions/${dispatch.mission_id}/events`,
      FACTORY,
      callbackPayload(dispatch, { event_type: 'mission.accepted' }),
    );
    const last = await post(`/missions/${dispatch.mission_id}/cancel`, OPERATOR, {
      reason: 'Budget reallocated to an incident.',
    });
    // The list reads a projection: wait until it has the cancel.
    await fetch(`${served.url}/v1/missions?min_position=${last.position}`, {
      headers: { authorization: `Bearer ${OPERATOR}` },
    });
  }, 120_000);

  afterAll(async () => {
    expect(await served.stop()).toBe(0);
  });

  it('lists missions, filtered by status, as a table or as the API answer', async () => {
    const running = await ledger('missions', 'list', '--status', 'running');
    expect(running.code).toBe(0);
    expect(running.stdout).toMatch(/^MISSION\s+STATUS\s+TYPE\s+VP\s+DISPATCHED\s+OBJECTIVE$/m);
    expect(running.stdout).toMatch(
      new RegExp(`^${dispatch.mission_id}\\s+running\\s+${String(dispatch.mission_type)}\\s`, 'm'),
    );
    const queued = await ledger('missions', 'list', '--status', 'queued');
    expect(queued.stdout).toBe('no missions\n');
    const json = await ledger('missions', 'list', '--json');
    const page = JSON.parse(json.stdout) as { missions: { mission_id: string }[] };
    expect(page.missions.map((m) => m.mission_id)).toEqual([dispatch.mission_id]);
  });

  it('shows a mission: its state and a timeline with who, outcome and reasons', async () => {
    const shown = await ledger('missions', 'show', dispatch.mission_id);
    expect(shown.code).toBe(0);
    expect(shown.stderr).toBe('');
    const out = shown.stdout;
    expect(out).toContain(`mission ${dispatch.mission_id}: running`);
    expect(out).toMatch(/inputs\s+1 accepted, 1 rejected/);
    expect(out).toMatch(/pending\s+cancel by operator:alice: Budget reallocated to an incident\./);
    expect(out).toContain('timeline (4 events):');
    const timeline = out.slice(out.indexOf('timeline'));
    expect(timeline).toMatch(/^\s+0 {2}\S+ {2}mission\.dispatched\s+operator:alice\s+accepted/m);
    expect(timeline).toMatch(
      /^\s+1 {2}\S+ {2}mission\.accepted\s+factory:ua-factory-07\s+accepted/m,
    );
    expect(timeline).toMatch(
      /^\s+2 {2}\S+ {2}mission\.callback_rejected\s+factory:ua-factory-07\s+REJECTED/m,
    );
    expect(timeline).toMatch(/^\s+- TRANSITION_ILLEGAL: .+/m);
    expect(timeline).toMatch(
      /^\s+3 {2}\S+ {2}mission\.cancel_requested\s+operator:alice\s+accepted/m,
    );

    const json = await ledger('missions', 'show', dispatch.mission_id, '--json');
    const body = JSON.parse(json.stdout) as {
      mission: { status: string };
      events: { revision: number; type: string }[];
    };
    expect(body.mission.status).toBe('running');
    expect(body.events.map((e) => e.type)).toEqual([
      'mission.dispatched',
      'mission.accepted',
      'mission.callback_rejected',
      'mission.cancel_requested',
    ]);
  });

  it('answers a user mistake with one line and exit 1, never a stack', async () => {
    const unknown = await ledger('missions', 'show', 'msn_no_such_mission');
    expect(unknown.code).toBe(1);
    expect(unknown.stdout).toBe('');
    expect(unknown.stderr).toBe('ledger: MISSION_NOT_FOUND: No mission msn_no_such_mission.\n');

    const badStatus = await ledger('missions', 'list', '--status', 'sleeping');
    expect(badStatus.code).toBe(1);
    expect(badStatus.stderr).toMatch(/^ledger: INVALID_ARGUMENT: status must be one of .+\n$/);

    const badOption = await ledger('missions', 'list', '--colour');
    expect(badOption.code).toBe(1);
    expect(badOption.stderr.split('\n')[0]).toBe("error: unknown option '--colour'");
    noStack(badOption.stderr);

    const badLines = await ledger('events', 'tail', '-n', 'many');
    expect(badLines.code).toBe(1);
    expect(badLines.stderr).toBe(
      'ledger: INVALID_ARGUMENT: --lines must be a whole number, not many.\n',
    );

    const noServer = await runLedger(['missions', 'list', '--url', 'http://127.0.0.1:9'], {
      cwd,
      env,
    });
    expect(noServer.code).toBe(1);
    expect(noServer.stderr).toMatch(
      /^ledger: CONFIGURATION_INVALID: No ledger server answers at http:\/\/127\.0\.0\.1:9: .+\n$/,
    );
    noStack(noServer.stderr);
  });

  it('tails the last events of the log and stops at the head', async () => {
    const tail = await ledger('events', 'tail', '-n', '2', '--json');
    expect(tail.code).toBe(0);
    const events = tail.stdout
      .trim()
      .split('\n')
      .map((line) => JSON.parse(line) as { position: number; type: string });
    expect(events.map((e) => e.type)).toEqual([
      'mission.callback_rejected',
      'mission.cancel_requested',
    ]);
    expect(events[1]!.position).toBe(events[0]!.position + 1);

    const text = await ledger('events', 'tail', '--after', '0');
    // The policy activation recorded at start, then the mission's four events.
    expect(text.stdout.split('\n').filter((l) => /^\s+\d+ {2}/.test(l))).toHaveLength(5);
    expect(text.stdout).toMatch(/policy\.activated/);
    expect(text.stdout).toMatch(/mission\.callback_rejected {2}factory:ua-factory-07 {2}REJECTED/);
    expect(text.stdout).toMatch(/^\s+- TRANSITION_ILLEGAL: /m);
  });

  it('follows the log with --follow and ends cleanly on Ctrl-C', async () => {
    const child = spawn(
      process.execPath,
      [LEDGER_BIN, 'events', 'tail', '--follow', '-n', '0', '--url', served.url],
      { cwd, env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] },
    );
    let out = '';
    let err = '';
    child.stdout.on('data', (chunk: Buffer) => (out += chunk.toString()));
    child.stderr.on('data', (chunk: Buffer) => (err += chunk.toString()));
    const closed = new Promise<number | null>((resolve) => child.once('close', resolve));
    const waitFor = async (pattern: RegExp) => {
      for (let i = 0; i < 400 && !pattern.test(out); i += 1) {
        await new Promise((r) => setTimeout(r, 50));
        // Keep appending until the follower (still starting) has subscribed and prints one.
        if (i % 40 === 39) await post('/missions', OPERATOR, dispatchPayload());
      }
      expect(out).toMatch(pattern);
    };
    const next = dispatchPayload();
    await post('/missions', OPERATOR, next);
    await waitFor(/mission\.dispatched/);
    child.kill('SIGINT');
    expect(await closed).toBe(0);
    expect(err).toBe('');
    expect(out).toMatch(/mission-msn_\S+ {2}mission\.dispatched {2}operator:alice/);
  });
});
