import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { missionView } from '../../src/http/mission-routes.ts';
import { scopedKey } from '../../src/domain/mission/index.ts';
import { eventDataSchema, REJECTIONS_STREAM } from '../../schemas/index.ts';
import { openStore } from '../../src/store/open-store.ts';
import type { EventStore, StoredEvent } from '../../src/store/port.ts';
import {
  OPERATOR_NAME,
  TARGET_INSTANCE,
  TOKENS,
  startApp,
  type CallResult,
  type ApiBody,
  type TestApp,
} from '../support/http-app.ts';
import {
  callbackPayload,
  dispatchPayload,
  logEvents,
  logHead,
  missionEvents,
  newMissionId,
  reasonCodes,
  type CallbackOptions,
  type Dispatch,
} from '../support/mission-fixtures.ts';
import { dropSchemas, freshSchemaName, storeUrl } from '../support/postgres.ts';

type Json = Record<string, unknown>;
/** `GET /v1/vp-sessions/{vp_id}/{vp_session_id}`. */
interface VpSessionRecord {
  vp_id: string;
  vp_session_id: string;
  workspace_key: string;
  vp_runtime_id: string;
  missions: string[];
  as_of_position: number;
}
type View = ReturnType<typeof missionView>;

/** Asymmetric matchers, typed as what they are to the compiler: anything. */
const anyNumber: unknown = expect.any(Number);
const anyString: unknown = expect.any(String);

describe.each([
  ['PGlite', () => 'pglite:memory'],
  ['PostgreSQL', () => storeUrl(freshSchemaName('mapi'))],
])('Mission API over HTTP on %s', (_name, url) => {
  let store: EventStore;
  let app: TestApp;

  beforeAll(async () => {
    store = await openStore(url());
    app = await startApp({ store });
  });
  afterAll(async () => {
    await app?.close();
    await store?.close();
    await dropSchemas();
  });

  // ---------------------------------------------------------------- helpers

  const postDispatch = (body: unknown, token: string = TOKENS.operator) =>
    app.call('POST', '/v1/missions', { token, body });

  const postCallback = (missionId: string, body: unknown, token: string = TOKENS.factory) =>
    app.call('POST', `/v1/missions/${missionId}/events`, { token, body });

  const getMission = (missionId: string, token: string = TOKENS.operator) =>
    app.call<View>('GET', `/v1/missions/${missionId}`, { token });

  /** A dispatched (queued) mission. */
  async function dispatched(
    overrides: Json = {},
  ): Promise<{ d: Dispatch; vpSessionId: string; position: number }> {
    const d = dispatchPayload(overrides);
    const res = await postDispatch(d);
    expect(res.status, JSON.stringify(res.body)).toBe(201);
    return { d, vpSessionId: res.body.vp_session_id!, position: res.body.position! };
  }

  /** A running mission: dispatched and accepted, usage as given. */
  async function running(usage = { runtime_minutes: 1, llm_calls: 5, estimated_cost_usd: 0.1 }) {
    const { d } = await dispatched();
    const res = await postCallback(
      d.mission_id,
      callbackPayload(d, { event_type: 'mission.accepted', usage }),
    );
    expect(res.status, JSON.stringify(res.body)).toBe(201);
    return d;
  }

  const callback = (d: Dispatch, options: CallbackOptions) => callbackPayload(d, options);

  /**
   * Asserts a recorded rejection: the code with its status, the reasons, the recorded revision
   * and position, and the event of that revision in the mission's timeline.
   */
  async function expectRecorded(
    res: CallResult,
    expected: {
      status: number;
      code: string;
      missionId: string;
      type?: string;
      codes?: string[];
    },
  ): Promise<StoredEvent> {
    expect(res.status, JSON.stringify(res.body)).toBe(expected.status);
    const error = res.body.error!;
    expect(error.code).toBe(expected.code);
    const reasons = error.details.reasons!.map((r) => r.code);
    expect(reasons[0]).toBe(expected.code);
    if (expected.codes !== undefined) expect(reasons).toEqual(expected.codes);
    const recorded = error.details.recorded!;
    expect(recorded).toMatchObject({
      revision: anyNumber,
      position: anyNumber,
    });
    const timeline = await missionEvents(app, expected.missionId);
    const event = timeline.find((e) => e.revision === recorded.revision);
    expect(event, 'the rejection is in the stream').toBeDefined();
    expect(event!.type).toBe(expected.type ?? 'mission.callback_rejected');
    expect(event!.position).toBe(recorded.position);
    expect(reasonCodes(event)).toEqual(reasons);
    return event!;
  }

  // ---------------------------------------------------------------- 1. dispatch

  describe('dispatch', () => {
    it('answers 201 with the mission, its session, revision 0, a position and duplicate false', async () => {
      const d = dispatchPayload();
      const res = await postDispatch(d);
      expect(res.status).toBe(201);
      expect(res.body).toEqual({
        mission_id: d.mission_id,
        vp_session_id: d.vp_session_id,
        revision: 0,
        position: anyNumber,
        duplicate: false,
      });
      expect(res.body.position).toBeGreaterThan(0);
      const events = await missionEvents(app, d.mission_id);
      expect(events.map((e) => [e.type, e.revision, e.position])).toEqual([
        ['mission.dispatched', 0, res.body.position],
      ]);
    });

    it('allocates a vps_ session when the dispatch has none; GET shows the queued mission', async () => {
      const d = dispatchPayload({ vp_session_id: undefined });
      const res = await postDispatch(d);
      expect(res.status).toBe(201);
      const allocated = res.body.vp_session_id!;
      expect(allocated).toMatch(/^vps_./);

      const got = await getMission(d.mission_id);
      expect(got.status).toBe(200);
      const view = got.body;
      expect(view).toMatchObject({
        mission_id: d.mission_id,
        status: 'queued',
        mission_type: 'coding',
        objective: d.objective,
        identity: {
          vp_id: d.vp_id,
          vp_session_id: allocated,
          vp_runtime_id: d.vp_runtime_id,
          source_instance_id: d.source_instance_id,
          target_instance_id: TARGET_INSTANCE,
          trace_id: d.trace_id,
        },
        usage: {
          runtime_minutes: { used: 0, max: 90, percent: 0, breached: false },
          llm_calls: { used: 0, max: 250, percent: 0, breached: false },
          estimated_cost_usd: { used: 0, max: 12.5, percent: 0, breached: false },
        },
        last_event: null,
        artifacts: [],
        pending_commands: [],
        final: null,
        counts: { accepted: 0, rejected: 0 },
        revision: 0,
      });
      expect(view.identity.workspace_key).toMatch(/^ws_[0-9a-f]{24}$/);
    });

    it('registers the VP session: same pair, same record; another pair, another workspace', async () => {
      const first = dispatchPayload({ vp_session_id: undefined });
      const r1 = await postDispatch(first);
      expect(r1.status).toBe(201);
      const session = r1.body.vp_session_id!;
      const workspace = (await getMission(first.mission_id)).body.identity.workspace_key;

      const rec1 = await app.call<VpSessionRecord>(
        'GET',
        `/v1/vp-sessions/${first.vp_id}/${session}?min_position=${r1.body.position}`,
        { token: TOKENS.operator },
      );
      expect(rec1.status).toBe(200);
      expect(rec1.body).toMatchObject({
        vp_id: first.vp_id,
        vp_session_id: session,
        workspace_key: workspace,
        vp_runtime_id: first.vp_runtime_id,
        missions: [first.mission_id],
      });

      // A second mission in the same session, on another runtime lane.
      const second = dispatchPayload({ vp_session_id: session, vp_runtime_id: 'rt.coder.lane-5' });
      const r2 = await postDispatch(second);
      expect(r2.status).toBe(201);
      expect((await getMission(second.mission_id)).body.identity.workspace_key).toBe(workspace);
      const rec2 = await app.call<VpSessionRecord>(
        'GET',
        `/v1/vp-sessions/${first.vp_id}/${session}?min_position=${r2.body.position}`,
        { token: TOKENS.operator },
      );
      expect(rec2.body).toMatchObject({
        vp_session_id: session,
        workspace_key: workspace,
        vp_runtime_id: 'rt.coder.lane-5',
        missions: [first.mission_id, second.mission_id],
      });

      // Another session of the same VP: another record.
      const third = dispatchPayload({ vp_session_id: `${session}-other` });
      const r3 = await postDispatch(third);
      expect(r3.status).toBe(201);
      const other = (await getMission(third.mission_id)).body.identity.workspace_key;
      expect(other).toMatch(/^ws_[0-9a-f]{24}$/);
      expect(other).not.toBe(workspace);
      const rec3 = await app.call<VpSessionRecord>(
        'GET',
        `/v1/vp-sessions/${third.vp_id}/${session}-other?min_position=${r3.body.position}`,
        { token: TOKENS.operator },
      );
      expect(rec3.body).toMatchObject({ workspace_key: other, missions: [third.mission_id] });

      const missing = await app.call('GET', `/v1/vp-sessions/${first.vp_id}/vps_never_seen`, {
        token: TOKENS.operator,
      });
      expect(missing.status).toBe(404);
      expect(missing.body.error?.code).toBe('VP_SESSION_NOT_FOUND');
    });
  });

  // ---------------------------------------------------------------- 2. dispatch idempotency

  describe('dispatch idempotency', () => {
    it('replays a retry with the same key and payload: 200, same result, nothing appended', async () => {
      const d = dispatchPayload({ vp_session_id: undefined });
      const first = await postDispatch(d);
      expect(first.status).toBe(201);
      const head = await logHead(app);

      const retry = await postDispatch(d);
      expect(retry.status).toBe(200);
      expect(retry.body).toEqual({ ...first.body, duplicate: true });
      expect(retry.body.vp_session_id).toBe(first.body.vp_session_id);
      expect(await logHead(app)).toBe(head);
    });

    it('rejects the same key with another payload: 409 IDEMPOTENCY_KEY_REUSED, recorded', async () => {
      const d = await dispatched();
      const res = await postDispatch({ ...d.d, objective: 'Something else entirely.' });
      const event = await expectRecorded(res, {
        status: 409,
        code: 'IDEMPOTENCY_KEY_REUSED',
        missionId: d.d.mission_id,
        type: 'mission.dispatch_rejected',
      });
      expect((event.data as { input: Json }).input.objective).toBe('Something else entirely.');
      expect((await getMission(d.d.mission_id)).body.objective).toBe(d.d.objective);
    });

    it('rejects another key for an existing mission: 409 MISSION_EXISTS, recorded', async () => {
      const d = await dispatched();
      const res = await postDispatch({ ...d.d, idempotency_key: `${d.d.idempotency_key}:again` });
      await expectRecorded(res, {
        status: 409,
        code: 'MISSION_EXISTS',
        missionId: d.d.mission_id,
        type: 'mission.dispatch_rejected',
      });
      expect((await getMission(d.d.mission_id)).body.counts).toEqual({ accepted: 0, rejected: 1 });
    });
  });

  // ---------------------------------------------------------------- 3. lifecycle

  describe('lifecycle', () => {
    it('runs accepted -> progress -> blocked -> progress -> artifact -> completed', async () => {
      const { d } = await dispatched();
      const steps: CallbackOptions[] = [
        {
          event_type: 'mission.accepted',
          usage: { runtime_minutes: 0.5, llm_calls: 2, estimated_cost_usd: 0.03 },
        },
        {
          event_type: 'mission.progress',
          usage: { runtime_minutes: 10, llm_calls: 20, estimated_cost_usd: 1 },
          overrides: { artifact_refs: ['artifact://patch.diff'] },
        },
        {
          event_type: 'mission.blocked',
          usage: { runtime_minutes: 12, llm_calls: 21, estimated_cost_usd: 1.1 },
          overrides: { summary: 'Waiting for approval of git.push' },
        },
        {
          event_type: 'mission.progress',
          usage: { runtime_minutes: 30, llm_calls: 60, estimated_cost_usd: 3 },
        },
        {
          event_type: 'mission.artifact',
          usage: { runtime_minutes: 31, llm_calls: 61, estimated_cost_usd: 3.05 },
          overrides: { artifact_refs: ['artifact://patch.diff', 'artifact://test-report.json'] },
        },
        {
          event_type: 'mission.completed',
          usage: { runtime_minutes: 45, llm_calls: 100, estimated_cost_usd: 5 },
          overrides: {
            summary: 'Pagination added; tests pass.',
            artifact_refs: ['artifact://test-report.json', 'artifact://summary.md'],
            artifact_index: [
              { ref: 'artifact://patch.diff', description: 'The change' },
              { ref: 'artifact://test-report.json' },
              { ref: 'artifact://summary.md', description: 'Summary' },
            ],
            next_action: 'Open a pull request.',
          },
        },
      ];
      const statuses = ['running', 'running', 'blocked', 'running', 'running', 'completed'];
      const sent: Json[] = [];
      let lastPosition = 0;
      for (const [i, step] of steps.entries()) {
        const payload = callback(d, step);
        sent.push(payload);
        const res = await postCallback(d.mission_id, payload);
        expect(res.status, JSON.stringify(res.body)).toBe(201);
        expect(res.body).toMatchObject({
          mission_id: d.mission_id,
          revision: i + 1,
          duplicate: false,
        });
        expect(res.body.position).toBeGreaterThan(lastPosition);
        lastPosition = res.body.position!;
        expect((await getMission(d.mission_id, TOKENS.factory)).body.status).toBe(statuses[i]);
      }

      const view = (await getMission(d.mission_id)).body;
      expect(view).toMatchObject({
        status: 'completed',
        final: {
          status: 'completed',
          summary: 'Pagination added; tests pass.',
          next_action: 'Open a pull request.',
          artifact_index: [
            { ref: 'artifact://patch.diff', description: 'The change' },
            { ref: 'artifact://test-report.json' },
            { ref: 'artifact://summary.md', description: 'Summary' },
          ],
        },
        artifacts: [
          'artifact://patch.diff',
          'artifact://test-report.json',
          'artifact://summary.md',
        ],
        usage: {
          runtime_minutes: { used: 45, max: 90, percent: 50, breached: false },
          llm_calls: { used: 100, max: 250, percent: 40, breached: false },
          estimated_cost_usd: { used: 5, max: 12.5, percent: 40, breached: false },
        },
        last_event: { type: 'mission.completed', summary: 'Pagination added; tests pass.' },
        pending_commands: [],
        counts: { accepted: 6, rejected: 0 },
        revision: 6,
      });

      // The timeline, two at a time.
      const pages: StoredEvent[][] = [];
      let from = 0;
      for (let guard = 0; guard < 10; guard += 1) {
        const page = await app.call<{ events: StoredEvent[]; next_from_revision: number }>(
          'GET',
          `/v1/missions/${d.mission_id}/events?limit=2&from_revision=${from}`,
          { token: TOKENS.auditor },
        );
        expect(page.status).toBe(200);
        if (page.body.events.length === 0) {
          expect(page.body.next_from_revision).toBe(from);
          break;
        }
        expect(page.body.events.length).toBeLessThanOrEqual(2);
        pages.push(page.body.events);
        from = page.body.next_from_revision;
      }
      expect(pages.map((p) => p.length)).toEqual([2, 2, 2, 1]);
      const timeline = pages.flat();
      expect(timeline.map((e) => e.type)).toEqual([
        'mission.dispatched',
        'mission.accepted',
        'mission.progress',
        'mission.blocked',
        'mission.progress',
        'mission.artifact',
        'mission.completed',
      ]);
      expect(timeline.map((e) => e.revision)).toEqual([0, 1, 2, 3, 4, 5, 6]);
      const positions = timeline.map((e) => e.position);
      expect([...positions].sort((a, b) => a - b)).toEqual(positions);
      expect(timeline.slice(1).map((e) => (e.data as { callback: Json }).callback)).toEqual(sent);
      // Each stored under its key scoped to the callback kind and the sending factory.
      const factory = { role: 'factory' as const, id: TARGET_INSTANCE };
      expect(timeline.slice(1).map((e) => e.metadata.idempotency_key)).toEqual(
        sent.map((s) => scopedKey('callback', factory, s.idempotency_key as string)),
      );
    });
  });

  // ---------------------------------------------------------------- 4. rejections

  describe('rejections are answered with their code and recorded', () => {
    it.each([
      ['vp_id', 'vp.coder.secondary'],
      ['vp_session_id', 'vps_someone_else'],
      ['vp_runtime_id', 'rt.coder.lane-9'],
    ])('IDENTITY_MISMATCH on %s: 422', async (field, value) => {
      const d = await running();
      const res = await postCallback(
        d.mission_id,
        callback(d, { event_type: 'mission.progress', overrides: { [field]: value } }),
      );
      await expectRecorded(res, {
        status: 422,
        code: 'IDENTITY_MISMATCH',
        missionId: d.mission_id,
        codes: ['IDENTITY_MISMATCH', 'USAGE_DECREASED'],
      });
      expect(res.body.error!.message).toContain(field);
      expect((await getMission(d.mission_id)).body.counts).toEqual({ accepted: 1, rejected: 1 });
    });

    it('TRACE_MISMATCH: 422', async () => {
      const d = await running({ runtime_minutes: 0, llm_calls: 0, estimated_cost_usd: 0 });
      const res = await postCallback(
        d.mission_id,
        callback(d, { event_type: 'mission.progress', overrides: { trace_id: 'trace-other' } }),
      );
      await expectRecorded(res, {
        status: 422,
        code: 'TRACE_MISMATCH',
        missionId: d.mission_id,
        codes: ['TRACE_MISMATCH'],
      });
    });

    it('STATUS_MISMATCH: 422', async () => {
      const d = await running({ runtime_minutes: 0, llm_calls: 0, estimated_cost_usd: 0 });
      const res = await postCallback(
        d.mission_id,
        callback(d, { event_type: 'mission.progress', status: 'blocked' }),
      );
      await expectRecorded(res, {
        status: 422,
        code: 'STATUS_MISMATCH',
        missionId: d.mission_id,
        codes: ['STATUS_MISMATCH'],
      });
      expect((await getMission(d.mission_id)).body.status).toBe('running');
    });

    it('TRANSITION_ILLEGAL: progress before accepted, and accepted twice: 409', async () => {
      const { d } = await dispatched();
      const early = await postCallback(
        d.mission_id,
        callback(d, { event_type: 'mission.progress' }),
      );
      await expectRecorded(early, {
        status: 409,
        code: 'TRANSITION_ILLEGAL',
        missionId: d.mission_id,
        codes: ['TRANSITION_ILLEGAL'],
      });
      expect((await getMission(d.mission_id)).body.status).toBe('queued');

      expect(
        (await postCallback(d.mission_id, callback(d, { event_type: 'mission.accepted' }))).status,
      ).toBe(201);
      const again = await postCallback(
        d.mission_id,
        callback(d, { event_type: 'mission.accepted' }),
      );
      await expectRecorded(again, {
        status: 409,
        code: 'TRANSITION_ILLEGAL',
        missionId: d.mission_id,
        codes: ['TRANSITION_ILLEGAL'],
      });
    });

    it('MISSION_CLOSED: anything after completed is 409', async () => {
      const d = await running({ runtime_minutes: 0, llm_calls: 0, estimated_cost_usd: 0 });
      expect(
        (await postCallback(d.mission_id, callback(d, { event_type: 'mission.completed' }))).status,
      ).toBe(201);
      for (const event_type of [
        'mission.progress',
        'mission.accepted',
        'mission.completed',
        'mission.failed',
        'mission.cancelled',
      ] as const) {
        const res = await postCallback(d.mission_id, callback(d, { event_type }));
        await expectRecorded(res, {
          status: 409,
          code: 'MISSION_CLOSED',
          missionId: d.mission_id,
          codes: ['MISSION_CLOSED'],
        });
      }
      const view = (await getMission(d.mission_id)).body;
      expect(view.status).toBe('completed');
      expect(view.counts).toEqual({ accepted: 2, rejected: 5 });
    });

    it.each([
      ['without next_action', { next_action: undefined }],
      ['with a blank next_action', { next_action: '   ' }],
      ['without artifact_index', { artifact_index: undefined }],
    ])('FINAL_EVENT_INCOMPLETE %s: 422, the mission stays open', async (_label, overrides) => {
      const d = await running({ runtime_minutes: 0, llm_calls: 0, estimated_cost_usd: 0 });
      const res = await postCallback(
        d.mission_id,
        callback(d, { event_type: 'mission.completed', overrides }),
      );
      await expectRecorded(res, {
        status: 422,
        code: 'FINAL_EVENT_INCOMPLETE',
        missionId: d.mission_id,
        codes: ['FINAL_EVENT_INCOMPLETE'],
      });
      const view = (await getMission(d.mission_id)).body;
      expect(view.status).toBe('running');
      expect(view.final).toBeNull();
    });

    it('USAGE_DECREASED: 422 for a lower field; equal usage is accepted', async () => {
      const usage = { runtime_minutes: 4, llm_calls: 9, estimated_cost_usd: 0.5 };
      const d = await running(usage);
      for (const lower of [
        { ...usage, runtime_minutes: 3.5 },
        { ...usage, llm_calls: 8 },
        { ...usage, estimated_cost_usd: 0.49 },
      ]) {
        const res = await postCallback(
          d.mission_id,
          callback(d, { event_type: 'mission.progress', usage: lower }),
        );
        await expectRecorded(res, {
          status: 422,
          code: 'USAGE_DECREASED',
          missionId: d.mission_id,
          codes: ['USAGE_DECREASED'],
        });
      }
      const equal = await postCallback(
        d.mission_id,
        callback(d, { event_type: 'mission.progress', usage }),
      );
      expect(equal.status).toBe(201);
      expect((await getMission(d.mission_id)).body.counts).toEqual({ accepted: 2, rejected: 3 });
    });

    it.each([
      ['an unknown field', { surprise: true }],
      ['a wrong type', { usage: { runtime_minutes: 1, llm_calls: 'two', estimated_cost_usd: 0 } }],
      ['a bad enum', { event_type: 'mission.exploded' }],
    ])('SCHEMA_INVALID for a callback with %s: 422', async (_label, overrides) => {
      const d = await running({ runtime_minutes: 0, llm_calls: 0, estimated_cost_usd: 0 });
      const payload = callback(d, { event_type: 'mission.progress', overrides });
      const res = await postCallback(d.mission_id, payload);
      const event = await expectRecorded(res, {
        status: 422,
        code: 'SCHEMA_INVALID',
        missionId: d.mission_id,
        codes: ['SCHEMA_INVALID'],
      });
      expect((event.data as { input: unknown }).input).toEqual(payload);
    });

    it.each([
      ['an unknown field', { surprise: true }],
      ['a wrong type', { heartbeat_interval_seconds: '300' }],
      ['a bad enum', { mission_type: 'poetry' }],
    ])('SCHEMA_INVALID for a dispatch with %s: 422', async (_label, overrides) => {
      const d = dispatchPayload(overrides);
      const res = await postDispatch(d);
      const event = await expectRecorded(res, {
        status: 422,
        code: 'SCHEMA_INVALID',
        missionId: d.mission_id,
        type: 'mission.dispatch_rejected',
        codes: ['SCHEMA_INVALID'],
      });
      expect((event.data as { input: unknown }).input).toEqual(d);
      // A rejected dispatch starts no mission.
      const got = await app.call('GET', `/v1/missions/${d.mission_id}`, {
        token: TOKENS.operator,
      });
      expect(got.status).toBe(404);
      expect(got.body.error?.code).toBe('MISSION_NOT_FOUND');
    });

    it('MISSION_NOT_FOUND for a callback to an unknown mission: 404, in ledger-rejections', async () => {
      const missionId = newMissionId();
      const ghost = dispatchPayload({ mission_id: missionId });
      const head = await logHead(app);
      const payload = callback(ghost, { event_type: 'mission.accepted' });
      const res = await postCallback(missionId, payload);
      expect(res.status).toBe(404);
      expect(res.body.error?.code).toBe('MISSION_NOT_FOUND');
      expect(res.body.error?.details.reasons?.map((r) => r.code)).toEqual(['MISSION_NOT_FOUND']);

      const appended = await logEvents(app, head);
      expect(appended).toHaveLength(1);
      expect(appended[0]).toMatchObject({
        stream: REJECTIONS_STREAM,
        type: 'mission.callback_rejected',
        data: { mission_id: missionId, input: payload },
      });
      expect(reasonCodes(appended[0])).toEqual(['MISSION_NOT_FOUND']);
      expect((await getMission(missionId)).status).toBe(404);
    });

    it('MISSION_NOT_FOUND answers with the recorded revision and position', async () => {
      const missionId = newMissionId();
      const payload = callback(dispatchPayload({ mission_id: missionId }), {
        event_type: 'mission.accepted',
      });
      const head = await logHead(app);
      const res = await postCallback(missionId, payload);
      expect(res.status).toBe(404);
      const [event] = await logEvents(app, head);
      expect(res.body.error?.details.recorded).toEqual({
        revision: event!.revision,
        position: event!.position,
      });
    });

    it('answers a rejection with details.recorded = { revision, position }', async () => {
      const d = await running({ runtime_minutes: 0, llm_calls: 0, estimated_cost_usd: 0 });
      const res = await postCallback(
        d.mission_id,
        callback(d, { event_type: 'mission.progress', overrides: { trace_id: 'other' } }),
      );
      expect(res.status).toBe(422);
      expect(res.body.error?.details.recorded).toEqual({
        revision: anyNumber,
        position: anyNumber,
      });
    });

    it('a foreign factory is answered exactly as for a missing mission; only ledger-rejections records it', async () => {
      const d = await running({ runtime_minutes: 0, llm_calls: 0, estimated_cost_usd: 0 });
      const before = await missionEvents(app, d.mission_id);
      const head = await logHead(app);
      const foreign = await postCallback(
        d.mission_id,
        callback(d, { event_type: 'mission.progress' }),
        TOKENS.otherFactory,
      );
      const ghostId = newMissionId();
      const ghost = await postCallback(
        ghostId,
        callback(dispatchPayload({ mission_id: ghostId }), { event_type: 'mission.progress' }),
        TOKENS.otherFactory,
      );
      // Same status, code, message shape and details: nothing tells the two apart, and nothing
      // of the mission (its VP identity, trace, target instance) is in the answer.
      expect(foreign.status).toBe(404);
      expect(ghost.status).toBe(404);
      const shape = (r: CallResult, id: string) =>
        JSON.stringify(r.body)
          .replaceAll(id, '<id>')
          .replace(/"position":\d+|"revision":\d+/g, '');
      expect(shape(foreign, d.mission_id)).toBe(shape(ghost, ghostId));
      const answer = JSON.stringify(foreign.body);
      for (const secret of [d.vp_id, d.vp_runtime_id, d.trace_id, d.target_instance_id])
        expect(answer).not.toContain(secret);

      // The owner's stream did not grow; auditors see the truth in ledger-rejections.
      expect(await missionEvents(app, d.mission_id)).toEqual(before);
      const appended = await logEvents(app, head);
      expect(appended.map((e) => e.stream)).toEqual([REJECTIONS_STREAM, REJECTIONS_STREAM]);
      expect(reasonCodes(appended[0])).toEqual(['FORBIDDEN_INSTANCE']);
      expect(appended[0]!.data).toMatchObject({
        mission_id: d.mission_id,
        principal: { role: 'factory', id: 'ua-factory-99' },
      });
      expect(appended[0]!.metadata.idempotency_key).toBeUndefined();

      // Reads: 404, as for a mission that does not exist.
      for (const path of [`/v1/missions/${d.mission_id}`, `/v1/missions/${d.mission_id}/events`]) {
        const read = await app.call('GET', path, { token: TOKENS.otherFactory });
        expect(read.status).toBe(404);
        expect(read.body.error).toMatchObject({ code: 'MISSION_NOT_FOUND', details: {} });
      }
      expect((await getMission(d.mission_id, TOKENS.factory)).status).toBe(200);
    });

    it("a stranger cannot squat the key the owner will use, nor receive the owner's outcome", async () => {
      const { d } = await dispatched();
      const accepted = callback(d, { event_type: 'mission.accepted' });
      // The stranger goes first with the owner's (predictable) key, a valid and an invalid body.
      const squat1 = await postCallback(d.mission_id, accepted, TOKENS.otherFactory);
      const squat2 = await postCallback(
        d.mission_id,
        { idempotency_key: accepted.idempotency_key },
        TOKENS.otherFactory,
      );
      expect([squat1.status, squat2.status]).toEqual([404, 404]);
      // The owner is unaffected: accepted, then its retry is its own duplicate.
      const owner = await postCallback(d.mission_id, accepted);
      expect(owner.status, JSON.stringify(owner.body)).toBe(201);
      const retry = await postCallback(d.mission_id, accepted);
      expect(retry.status).toBe(200);
      expect(retry.body).toMatchObject({ duplicate: true, position: owner.body.position });
      // After the owner, the stranger's retry still learns nothing of the owner's outcome.
      const late = await postCallback(d.mission_id, accepted, TOKENS.otherFactory);
      expect(late.status).toBe(404);
      expect(late.body.error?.code).toBe('MISSION_NOT_FOUND');
      expect(JSON.stringify(late.body)).not.toContain(String(owner.body.position));
    });

    it('keys are per kind of input: a cancel key equal to a callback key binds nothing of it', async () => {
      const d = await running({ runtime_minutes: 0, llm_calls: 0, estimated_cost_usd: 0 });
      const progress = callback(d, { event_type: 'mission.progress' });
      const cancel = await app.call('POST', `/v1/missions/${d.mission_id}/cancel`, {
        token: TOKENS.operator,
        body: { reason: 'stop' },
        headers: { 'Idempotency-Key': progress.idempotency_key as string },
      });
      expect(cancel.status, JSON.stringify(cancel.body)).toBe(201);
      const res = await postCallback(d.mission_id, progress);
      expect(res.status, JSON.stringify(res.body)).toBe(201);
      expect(res.body.duplicate).toBe(false);
    });

    it('stores keys scoped to their sender: the stored key is not the key sent', async () => {
      const { d } = await dispatched();
      const [event] = await missionEvents(app, d.mission_id);
      expect(event!.metadata.idempotency_key).toMatch(/^dispatch:[A-Za-z0-9_-]{43}$/);
      expect(event!.metadata.idempotency_key).not.toContain(d.idempotency_key);
    });
  });

  // ---------------------------------------------------------------- 5. callback idempotency

  describe('callback idempotency', () => {
    it('replays a retry with the same key and payload: 200, original result, nothing appended', async () => {
      const { d } = await dispatched();
      const payload = callback(d, { event_type: 'mission.accepted' });
      const first = await postCallback(d.mission_id, payload);
      expect(first.status).toBe(201);
      const head = await logHead(app);
      const retry = await postCallback(d.mission_id, payload);
      expect(retry.status).toBe(200);
      expect(retry.body).toMatchObject({
        mission_id: d.mission_id,
        revision: first.body.revision,
        position: first.body.position,
        duplicate: true,
      });
      expect(await logHead(app)).toBe(head);
      expect((await getMission(d.mission_id)).body.counts).toEqual({ accepted: 1, rejected: 0 });
    });

    it('answers a replayed callback or cancel with exactly the original body', async () => {
      const { d } = await dispatched();
      const payload = callback(d, { event_type: 'mission.accepted' });
      const first = await postCallback(d.mission_id, payload);
      expect(first.status).toBe(201);
      const retry = await postCallback(d.mission_id, payload);
      expect(retry.status).toBe(200);
      expect(retry.body).toEqual({ ...first.body, duplicate: true });

      const cancel = () =>
        app.call('POST', `/v1/missions/${d.mission_id}/cancel`, {
          token: TOKENS.operator,
          body: { reason: 'Replay me.' },
          headers: { 'Idempotency-Key': `cancel-exact:${d.mission_id}` },
        });
      const c1 = await cancel();
      expect(c1.status).toBe(201);
      const c2 = await cancel();
      expect(c2.status).toBe(200);
      expect(c2.body).toEqual({ ...c1.body, duplicate: true });
    });

    it('rejects the same key with another payload: 409 IDEMPOTENCY_KEY_REUSED, recorded', async () => {
      const { d } = await dispatched();
      const payload = callback(d, { event_type: 'mission.accepted' });
      expect((await postCallback(d.mission_id, payload)).status).toBe(201);
      const res = await postCallback(d.mission_id, { ...payload, summary: 'A different story.' });
      const event = await expectRecorded(res, {
        status: 409,
        code: 'IDEMPOTENCY_KEY_REUSED',
        missionId: d.mission_id,
        codes: ['IDEMPOTENCY_KEY_REUSED'],
      });
      // Recorded under no key: the key stays with the original.
      expect(event.metadata.idempotency_key).toBeUndefined();
      const view = (await getMission(d.mission_id)).body;
      expect(view.last_event?.summary).toBe(payload.summary);
      expect(view.counts).toEqual({ accepted: 1, rejected: 1 });
    });

    it('answers a retried rejected callback with the same rejection, duplicate, nothing appended', async () => {
      const d = await running({ runtime_minutes: 0, llm_calls: 0, estimated_cost_usd: 0 });
      const payload = callback(d, {
        event_type: 'mission.progress',
        overrides: { trace_id: 'not-the-trace' },
      });
      const first = await postCallback(d.mission_id, payload);
      expect(first.status).toBe(422);
      const head = await logHead(app);

      const retry = await postCallback(d.mission_id, payload);
      expect(retry.status).toBe(422);
      expect(retry.body.error?.code).toBe('TRACE_MISMATCH');
      expect(retry.body.error?.details).toMatchObject({
        duplicate: true,
        recorded: {
          revision: first.body.error!.details.recorded!.revision,
          position: first.body.error!.details.recorded!.position,
        },
        reasons: first.body.error!.details.reasons,
      });
      expect(first.body.error?.details.duplicate).toBeUndefined();
      expect(await logHead(app)).toBe(head);
    });
  });

  // ---------------------------------------------------------------- 6. cancel

  describe('cancel', () => {
    it('stays pending until the factory reports mission.cancelled, which closes the mission', async () => {
      const d = await running({ runtime_minutes: 0, llm_calls: 0, estimated_cost_usd: 0 });
      const res = await app.call('POST', `/v1/missions/${d.mission_id}/cancel`, {
        token: TOKENS.operator,
        body: { reason: 'Budget reallocated to an incident.' },
      });
      expect(res.status).toBe(201);
      expect(res.body).toEqual({
        mission_id: d.mission_id,
        revision: 2,
        position: anyNumber,
        duplicate: false,
      });

      const seen = (await getMission(d.mission_id, TOKENS.factory)).body;
      expect(seen.status).toBe('running');
      expect(seen.final).toBeNull();
      expect(seen.pending_commands).toEqual([
        {
          type: 'cancel',
          reason: 'Budget reallocated to an incident.',
          requested_by: `operator:${OPERATOR_NAME}`,
          requested_at: anyString,
        },
      ]);
      const events = await missionEvents(app, d.mission_id);
      expect(events.at(-1)).toMatchObject({ type: 'mission.cancel_requested', revision: 2 });

      // Still open: progress is accepted while the cancel is pending.
      expect(
        (await postCallback(d.mission_id, callback(d, { event_type: 'mission.progress' }))).status,
      ).toBe(201);

      const cancelled = await postCallback(
        d.mission_id,
        callback(d, { event_type: 'mission.cancelled' }),
      );
      expect(cancelled.status).toBe(201);
      const closed = (await getMission(d.mission_id, TOKENS.factory)).body;
      expect(closed.status).toBe('cancelled');
      expect(closed.final).toMatchObject({ status: 'cancelled' });
      expect(closed.pending_commands).toEqual([]);

      const late = await app.call('POST', `/v1/missions/${d.mission_id}/cancel`, {
        token: TOKENS.operator,
        body: { reason: 'Once more.' },
      });
      await expectRecorded(late, {
        status: 409,
        code: 'MISSION_CLOSED',
        missionId: d.mission_id,
        type: 'mission.cancel_rejected',
        codes: ['MISSION_CLOSED'],
      });
    });

    it('replays a cancel retried with the same Idempotency-Key: 200 duplicate', async () => {
      const { d } = await dispatched();
      const send = () =>
        app.call('POST', `/v1/missions/${d.mission_id}/cancel`, {
          token: TOKENS.operator,
          body: { reason: 'Superseded.' },
          headers: { 'Idempotency-Key': `cancel:${d.mission_id}` },
        });
      const first = await send();
      expect(first.status).toBe(201);
      const head = await logHead(app);
      const second = await send();
      expect(second.status).toBe(200);
      expect(second.body).toMatchObject({
        mission_id: d.mission_id,
        revision: first.body.revision,
        position: first.body.position,
        duplicate: true,
      });
      expect(await logHead(app)).toBe(head);
      expect((await getMission(d.mission_id)).body.pending_commands).toHaveLength(1);
    });

    it('rejects a cancel key reused for another reason, records it, and keeps the mission readable', async () => {
      const { d } = await dispatched();
      const send = (reason: string) =>
        app.call('POST', `/v1/missions/${d.mission_id}/cancel`, {
          token: TOKENS.operator,
          body: { reason },
          headers: { 'Idempotency-Key': `cancel-reuse:${d.mission_id}` },
        });
      expect((await send('Superseded.')).status).toBe(201);
      const reused = await send('Another reason.');
      expect(reused.status).toBe(409);
      expect(reused.body.error?.code).toBe('IDEMPOTENCY_KEY_REUSED');
      const mission = await getMission(d.mission_id);
      expect(mission.status).toBe(200);
      expect(mission.body.pending_commands).toHaveLength(1);
      expect(mission.body.counts).toMatchObject({ rejected: 1 });
    });

    it.each([
      ['without a reason', {}],
      ['with an empty reason', { reason: '' }],
      ['with an unknown field', { reason: 'x', why: 'y' }],
    ])('answers a cancel %s with 422 SCHEMA_INVALID', async (_label, body) => {
      const { d } = await dispatched();
      const res = await app.call('POST', `/v1/missions/${d.mission_id}/cancel`, {
        token: TOKENS.operator,
        body,
      });
      expect(res.status).toBe(422);
      expect(res.body.error?.code).toBe('SCHEMA_INVALID');
      expect((await getMission(d.mission_id)).body.pending_commands).toEqual([]);
    });

    it('records a cancel without a reason as mission.cancel_rejected', async () => {
      const { d } = await dispatched();
      const res = await app.call('POST', `/v1/missions/${d.mission_id}/cancel`, {
        token: TOKENS.operator,
        body: {},
      });
      expect(res.status).toBe(422);
      const events = await missionEvents(app, d.mission_id);
      expect(events.map((e) => e.type)).toEqual(['mission.dispatched', 'mission.cancel_rejected']);
    });

    it('answers a cancel of an unknown mission with 404 MISSION_NOT_FOUND', async () => {
      const res = await app.call('POST', `/v1/missions/${newMissionId()}/cancel`, {
        token: TOKENS.operator,
        body: { reason: 'No such mission.' },
      });
      expect(res.status).toBe(404);
      expect(res.body.error?.code).toBe('MISSION_NOT_FOUND');
    });
  });

  // ---------------------------------------------------------------- 7. auth

  describe('authentication and roles', () => {
    it.each([
      ['no token', {}],
      ['an unknown token', { authorization: 'Bearer not-a-known-token-at-all' }],
      [
        'a Basic credential',
        { authorization: `Basic ${Buffer.from('ops:pw').toString('base64')}` },
      ],
      ['a known token under Basic', { authorization: `Basic ${TOKENS.operator}` }],
    ])('answers %s with 401 UNAUTHENTICATED and a challenge', async (_label, headers) => {
      const head = await logHead(app);
      for (const [method, path, body] of [
        ['GET', '/v1/events', undefined],
        ['GET', '/v1/missions/anything', undefined],
        ['POST', '/v1/missions', dispatchPayload()],
      ] as const) {
        const res = await app.call(method, path, { headers, body });
        expect(res.status, `${method} ${path}`).toBe(401);
        expect(res.body.error?.code).toBe('UNAUTHENTICATED');
        expect(res.headers.get('www-authenticate')).toMatch(/^Bearer /);
      }
      expect(await logHead(app)).toBe(head);
    });

    it('refuses a dispatch from an auditor or a factory: 403 FORBIDDEN, nothing recorded', async () => {
      const head = await logHead(app);
      for (const [token, role] of [
        [TOKENS.auditor, 'auditor'],
        [TOKENS.factory, 'factory'],
      ] as const) {
        const res = await postDispatch(dispatchPayload(), token);
        expect(res.status).toBe(403);
        expect(res.body.error).toMatchObject({
          code: 'FORBIDDEN',
          details: { role, allowed: ['operator'] },
        });
      }
      expect(await logHead(app)).toBe(head);
    });

    it('refuses a callback from an operator, and a cancel from a factory: 403 FORBIDDEN', async () => {
      const { d } = await dispatched();
      const res = await postCallback(
        d.mission_id,
        callback(d, { event_type: 'mission.accepted' }),
        TOKENS.operator,
      );
      expect(res.status).toBe(403);
      expect(res.body.error?.code).toBe('FORBIDDEN');
      const cancel = await app.call('POST', `/v1/missions/${d.mission_id}/cancel`, {
        token: TOKENS.factory,
        body: { reason: 'I would rather not.' },
      });
      expect(cancel.status).toBe(403);
      expect(cancel.body.error?.code).toBe('FORBIDDEN');
      expect((await missionEvents(app, d.mission_id)).map((e) => e.type)).toEqual([
        'mission.dispatched',
      ]);
    });

    it('lets an auditor read missions, timelines, the log and sessions', async () => {
      const { d, vpSessionId, position } = await dispatched();
      const token = TOKENS.auditor;
      const mission = await getMission(d.mission_id, token);
      expect(mission.status).toBe(200);
      expect(mission.body.mission_id).toBe(d.mission_id);
      const timeline = await app.call<{ events: StoredEvent[] }>(
        'GET',
        `/v1/missions/${d.mission_id}/events`,
        { token },
      );
      expect(timeline.status).toBe(200);
      expect(timeline.body.events.map((e) => e.type)).toEqual(['mission.dispatched']);
      const log = await app.call<{ events: StoredEvent[] }>('GET', '/v1/events?limit=1', {
        token,
      });
      expect(log.status).toBe(200);
      expect(log.body.events).toHaveLength(1);
      const session = await app.call<VpSessionRecord>(
        'GET',
        `/v1/vp-sessions/${d.vp_id}/${vpSessionId}?min_position=${position}`,
        { token },
      );
      expect(session.status).toBe(200);
      expect(session.body.missions).toContain(d.mission_id);
    });

    it('refuses the global log and sessions to a factory: 403 FORBIDDEN', async () => {
      const log = await app.call('GET', '/v1/events', { token: TOKENS.factory });
      expect(log.status).toBe(403);
      expect(log.body.error?.code).toBe('FORBIDDEN');
      const session = await app.call('GET', '/v1/vp-sessions/vp.coder.primary/x', {
        token: TOKENS.factory,
      });
      expect(session.status).toBe(403);
    });

    it('serves healthz, readyz and openapi.json without a token', async () => {
      const health = await app.call('GET', '/v1/healthz');
      expect(health.status).toBe(200);
      expect(health.body).toMatchObject({ status: 'ok' });
      const ready = await app.call('GET', '/v1/readyz');
      expect(ready.status).toBe(200);
      expect(ready.body).toMatchObject({ status: 'ready', store: { status: 'up' } });
      const doc = await app.call('GET', '/v1/openapi.json');
      expect(doc.status).toBe(200);
      expect(doc.body.openapi).toBe('3.1.0');
    });
  });

  // ---------------------------------------------------------------- 8. bad input

  describe('bad input', () => {
    let small: TestApp;
    beforeAll(async () => {
      small = await startApp({ store, bodyLimit: 2048 });
    });
    afterAll(async () => {
      await small?.close();
    });

    /** Sends `rawBody` and asserts the answer and that the log did not move. */
    async function expectNothingAppended(
      target: TestApp,
      path: string,
      options: { rawBody: string | Uint8Array; headers?: Record<string, string> },
      status: number,
      code: string,
    ): Promise<CallResult<ApiBody>> {
      const head = await logHead(app);
      const res = await target.call('POST', path, { token: TOKENS.operator, ...options });
      expect(res.status, JSON.stringify(res.body)).toBe(status);
      expect(res.body.error?.code).toBe(code);
      expect(await logHead(app)).toBe(head);
      return res;
    }
    const json = { 'content-type': 'application/json' };

    it('answers malformed JSON with 400 MALFORMED_JSON', async () => {
      await expectNothingAppended(
        app,
        '/v1/missions',
        { rawBody: '{"mission_id": "m1", ', headers: json },
        400,
        'MALFORMED_JSON',
      );
    });

    it('answers a JSON string body with 400 MALFORMED_JSON', async () => {
      await expectNothingAppended(
        app,
        '/v1/missions',
        { rawBody: '"just a string"', headers: json },
        400,
        'MALFORMED_JSON',
      );
    });

    it('answers a body over the limit with 413 PAYLOAD_TOO_LARGE', async () => {
      const big = JSON.stringify(dispatchPayload({ objective: 'x'.repeat(4096) }));
      await expectNothingAppended(
        small,
        '/v1/missions',
        { rawBody: big, headers: json },
        413,
        'PAYLOAD_TOO_LARGE',
      );
      // The same app takes a body under its limit.
      const fits = dispatchPayload();
      expect(JSON.stringify(fits).length).toBeLessThan(2048);
      const ok = await small.call('POST', '/v1/missions', { token: TOKENS.operator, body: fits });
      expect(ok.status).toBe(201);
    });

    it('answers text/plain and a missing content type with 415 UNSUPPORTED_MEDIA_TYPE', async () => {
      const text = JSON.stringify(dispatchPayload());
      await expectNothingAppended(
        app,
        '/v1/missions',
        { rawBody: text, headers: { 'content-type': 'text/plain' } },
        415,
        'UNSUPPORTED_MEDIA_TYPE',
      );
      // A byte body: fetch adds no Content-Type.
      const res = await expectNothingAppended(
        app,
        '/v1/missions',
        { rawBody: new TextEncoder().encode(text) },
        415,
        'UNSUPPORTED_MEDIA_TYPE',
      );
      expect(res.body.error?.details).toEqual({ content_type: null });
    });

    it('answers __proto__ and constructor keys with 400 FORBIDDEN_KEY', async () => {
      const proto = await expectNothingAppended(
        app,
        '/v1/missions',
        { rawBody: '{"__proto__": {"isAdmin": true}, "mission_id": "m"}', headers: json },
        400,
        'FORBIDDEN_KEY',
      );
      expect(proto.body.error?.details).toEqual({ path: '$.__proto__' });

      const { d } = await dispatched();
      const nested = JSON.stringify({
        ...callback(d, { event_type: 'mission.accepted' }),
        usage: { constructor: { prototype: { polluted: true } } },
      });
      const res = await expectNothingAppended(
        app,
        `/v1/missions/${d.mission_id}/events`,
        { rawBody: nested, headers: { ...json, authorization: `Bearer ${TOKENS.factory}` } },
        400,
        'FORBIDDEN_KEY',
      );
      expect(res.body.error?.details).toEqual({ path: '$.usage.constructor' });
      expect(({} as Record<string, unknown>).polluted).toBeUndefined();
      expect(({} as Record<string, unknown>).isAdmin).toBeUndefined();
    });

    it('records a JSON array body as a SCHEMA_INVALID rejection (it did parse)', async () => {
      const head = await logHead(app);
      const res = await app.call('POST', '/v1/missions', {
        token: TOKENS.operator,
        rawBody: '[1, 2, 3]',
        headers: json,
      });
      expect(res.status).toBe(422);
      expect(res.body.error?.code).toBe('SCHEMA_INVALID');
      const appended = await logEvents(app, head);
      expect(appended).toHaveLength(1);
      expect(appended[0]).toMatchObject({
        stream: REJECTIONS_STREAM,
        type: 'mission.dispatch_rejected',
        data: { input: [1, 2, 3] },
      });

      const { d } = await dispatched();
      const cb = await app.call('POST', `/v1/missions/${d.mission_id}/events`, {
        token: TOKENS.factory,
        rawBody: '[]',
        headers: json,
      });
      await expectRecorded(cb, {
        status: 422,
        code: 'SCHEMA_INVALID',
        missionId: d.mission_id,
        codes: ['SCHEMA_INVALID'],
      });
    });

    it('answers an unknown route with 404 ROUTE_NOT_FOUND', async () => {
      for (const [method, path] of [
        ['GET', '/v1/nothing-here'],
        ['GET', '/v2/missions'],
        ['DELETE', '/v1/missions/x/cancel/now'],
      ] as const) {
        const res = await app.call(method, path, { token: TOKENS.operator });
        expect(res.status, `${method} ${path}`).toBe(404);
        expect(res.body.error?.code).toBe('ROUTE_NOT_FOUND');
      }
      // A route's path with another method is 405 (api-conventions.test.ts), not 404.
      for (const [method, path] of [
        ['DELETE', '/v1/missions'],
        ['PUT', '/v1/missions/x/cancel'],
      ] as const) {
        const res = await app.call(method, path, { token: TOKENS.operator });
        expect(res.status, `${method} ${path}`).toBe(405);
        expect(res.body.error?.code).toBe('METHOD_NOT_ALLOWED');
      }
    });

    it('rejects huge numbers with a 4xx', async () => {
      const head = await logHead(app);
      // 1e400 parses to Infinity; a number JSON cannot hold.
      const d = dispatchPayload();
      const text = JSON.stringify(d).replace('"max_cost_usd":12.5', '"max_cost_usd":1e400');
      expect(text).toContain('1e400');
      const res = await app.call('POST', '/v1/missions', {
        token: TOKENS.operator,
        rawBody: text,
        headers: json,
      });
      expect(res.status, JSON.stringify(res.body)).toBeGreaterThanOrEqual(400);
      expect(res.status).toBeLessThan(500);
      expect((await getMission(d.mission_id)).status).toBe(404);

      // An integer beyond 2^53 in usage: valid JSON, not a valid count.
      const running = await dispatched();
      const cb = JSON.stringify(callback(running.d, { event_type: 'mission.accepted' })).replace(
        '"llm_calls":0',
        `"llm_calls":${'9'.repeat(40)}`,
      );
      expect(cb).toContain('9'.repeat(40));
      const big = await app.call('POST', `/v1/missions/${running.d.mission_id}/events`, {
        token: TOKENS.factory,
        rawBody: cb,
        headers: json,
      });
      expect(big.status).toBe(422);
      expect(big.body.error?.code).toBe('SCHEMA_INVALID');
      expect((await getMission(running.d.mission_id)).body.status).toBe('queued');
      expect(await logHead(app)).toBeGreaterThan(head);
    });

    const nested = (depth: number, leaf: string) =>
      '{"a":'.repeat(depth) + leaf + '}'.repeat(depth);

    it('rejects a 5000-deep object with a 4xx, not a 500', async () => {
      const res = await app.call('POST', '/v1/missions', {
        token: TOKENS.operator,
        rawBody: nested(5000, '1'),
        headers: json,
      });
      expect(res.status, JSON.stringify(res.body)).toBeGreaterThanOrEqual(400);
      expect(res.status).toBeLessThan(500);
    });

    it('keeps serving after all of it', async () => {
      // The deep body again, on both routes: whatever the answer, the process survives.
      const { d } = await dispatched();
      for (const path of ['/v1/missions', `/v1/missions/${d.mission_id}/events`]) {
        const res = await app.call('POST', path, {
          token: path.endsWith('events') ? TOKENS.factory : TOKENS.operator,
          rawBody: nested(5000, '1'),
          headers: json,
        });
        expect(res.status).toBeGreaterThanOrEqual(400);
      }
      const health = await app.call('GET', '/v1/healthz');
      expect(health.status).toBe(200);
      expect((await app.call('GET', '/v1/readyz')).status).toBe(200);
      expect((await getMission(d.mission_id)).body.status).toBe('queued');
    });
  });

  // ---------------------------------------------------------------- 9. OpenAPI

  describe('the log', () => {
    it('holds only events of a registered type whose data matches its schema', async () => {
      const events = await logEvents(app, 0);
      expect(events.length).toBeGreaterThan(100);
      const problems = events.flatMap((event) => {
        const schema = eventDataSchema(event.stream, event.type);
        if (schema === undefined) return [`${event.position}: no schema for ${event.type}`];
        const parsed = schema.safeParse(event.data);
        return parsed.success ? [] : [`${event.position} ${event.type}: ${parsed.error.message}`];
      });
      expect(problems).toEqual([]);
      // Every kind of stream the ledger writes was exercised.
      const types = new Set(events.map((e) => `${e.stream.split('-')[0]} ${e.type}`));
      for (const expected of [
        'mission mission.dispatched',
        'mission mission.dispatch_rejected',
        'mission mission.callback_rejected',
        'mission mission.cancel_requested',
        'mission mission.cancel_rejected',
        'ledger mission.callback_rejected',
        'ledger mission.dispatch_rejected',
      ])
        expect(types).toContain(expected);
    });
  });

  describe('OpenAPI document', () => {
    it('describes every route, holds the contract schemas, and every $ref resolves', async () => {
      const res = await app.call<Json & { paths: Json; components: { schemas: Json } }>(
        'GET',
        '/v1/openapi.json',
      );
      expect(res.status).toBe(200);
      const doc = res.body;
      expect(doc.openapi).toBe('3.1.0');
      expect(Object.keys(doc.paths)).toEqual(
        expect.arrayContaining([
          '/v1/missions',
          '/v1/missions/{id}',
          '/v1/missions/{id}/events',
          '/v1/missions/{id}/cancel',
          '/v1/vp-sessions/{vp_id}/{vp_session_id}',
          '/v1/events',
          '/v1/healthz',
          '/v1/readyz',
          '/v1/openapi.json',
        ]),
      );
      const methods = (path: string) => Object.keys(doc.paths[path] as Json).sort();
      expect(methods('/v1/missions')).toEqual(['get', 'post']);
      expect(methods('/v1/missions/{id}/events')).toEqual(['get', 'post']);
      expect(methods('/v1/missions/{id}/cancel')).toEqual(['post']);
      expect(doc.components.schemas).toHaveProperty('mission-dispatch');
      expect(doc.components.schemas).toHaveProperty('lifecycle-event');

      // Every documented path answers something other than ROUTE_NOT_FOUND.
      for (const [path, item] of Object.entries(doc.paths)) {
        // An endless event stream never answers a plain call; event-stream.test.ts covers it.
        if (path === '/v1/events/stream') continue;
        const concrete = path.replace(/\{[^}]+\}/g, 'x');
        for (const method of Object.keys(item as Json)) {
          const r = await app.call(method.toUpperCase(), concrete, { token: TOKENS.operator });
          expect(r.body.error?.code, `${method} ${path}`).not.toBe('ROUTE_NOT_FOUND');
          expect(r.body.error?.code, `${method} ${path}`).not.toBe('METHOD_NOT_ALLOWED');
        }
      }

      // Walk the document: a `#/...` ref resolves against the nearest enclosing `$id` resource
      // (the contract schemas keep theirs), or the document root.
      const refs: string[] = [];
      const pointer = (root: unknown, ref: string): unknown =>
        ref
          .slice(2)
          .split('/')
          .map((p) => p.replaceAll('~1', '/').replaceAll('~0', '~'))
          .reduce<unknown>(
            (node, key) =>
              typeof node === 'object' && node !== null
                ? (node as Json)[decodeURIComponent(key)]
                : undefined,
            root,
          );
      const walk = (node: unknown, resource: unknown): void => {
        if (Array.isArray(node)) {
          for (const item of node) walk(item, resource);
          return;
        }
        if (typeof node !== 'object' || node === null) return;
        const obj = node as Json;
        const base = typeof obj.$id === 'string' ? obj : resource;
        if (typeof obj.$ref === 'string') {
          refs.push(obj.$ref);
          expect(obj.$ref, 'only local refs').toMatch(/^#\//);
          expect(pointer(base, obj.$ref), `${obj.$ref} resolves`).toBeDefined();
        }
        for (const value of Object.values(obj)) walk(value, base);
      };
      walk(doc, doc);
      expect(refs).toContain('#/components/schemas/mission-dispatch');
      expect(refs).toContain('#/components/schemas/lifecycle-event');
      expect(refs).toContain('#/components/schemas/MissionView');
    });
  });
});
