import { policyInForce } from '../support/policy.ts';
import { describe, expect, it } from 'vitest';
import type { LifecycleEventType } from '../../schemas/index.ts';
import {
  decideCallback,
  decideCancel,
  decideDispatch,
  evolveMission,
  foldMission,
  initialMissionState,
  workspaceKey,
  type MissionEvent,
  type MissionState,
  type RecordedEvent,
} from '../../src/domain/mission/index.ts';
import { isLedgerError } from '../../src/errors.ts';
import {
  ALLOCATED_SESSION,
  DISPATCHED_AT,
  FACTORY_ID,
  MISSION_ID,
  accepted,
  callbackPayload,
  dispatchPayload,
  dispatched,
  factory,
  given,
  missionIn,
  operator,
} from './support/mission-given.ts';

/** Deep-freezes a value so that a mutating fold would throw. */
function frozen<T>(value: T): T {
  if (typeof value === 'object' && value !== null) {
    for (const child of Object.values(value)) frozen(child);
    Object.freeze(value);
  }
  return value;
}

describe('foldMission: start', () => {
  it('is undefined for an empty stream', () => {
    expect(initialMissionState()).toBeUndefined();
    expect(foldMission([])).toBeUndefined();
  });

  it('starts a queued mission from mission.dispatched', () => {
    const payload = dispatchPayload();
    expect(foldMission([dispatched(payload)])).toEqual({
      mission_id: MISSION_ID,
      status: 'queued',
      dispatch: payload,
      vp_session_id: payload.vp_session_id!,
      workspace_key: workspaceKey(payload.vp_id, payload.vp_session_id!),
      trace_id: payload.trace_id,
      target_instance_id: FACTORY_ID,
      usage: { runtime_minutes: 0, llm_calls: 0, estimated_cost_usd: 0 },
      budget: payload.budget,
      last_event: null,
      artifacts: [],
      final: null,
      pending_commands: [],
      accepted_count: 0,
      rejected_count: 0,
      dispatched_at: DISPATCHED_AT,
      updated_at: DISPATCHED_AT,
    } satisfies MissionState);
  });

  it('keeps the session the ledger allocated', () => {
    const { vp_session_id: _omitted, ...payload } = dispatchPayload();
    const state = foldMission([dispatched(payload)]);
    expect(state?.vp_session_id).toBe(ALLOCATED_SESSION);
    expect(state?.workspace_key).toBe(workspaceKey(payload.vp_id, ALLOCATED_SESSION));
  });

  it('stays undefined through rejections that precede any dispatch', () => {
    const rejections = [
      given().whenDispatch({ mission_id: MISSION_ID }).decision.events[0]!,
      given().whenCallback(callbackPayload('mission.accepted')).decision.events[0]!,
      given().whenCancel().decision.events[0]!,
    ];
    expect(foldMission(rejections)).toBeUndefined();
    expect(foldMission([...rejections, dispatched()])?.rejected_count).toBe(0);
  });

  it('ignores a second mission.dispatched', () => {
    const first = foldMission([dispatched()]);
    const second = dispatched(dispatchPayload({ objective: 'Another objective' }));
    expect(foldMission([dispatched(), second])).toEqual(first);
  });
});

describe('foldMission: a whole realistic mission', () => {
  const steps: [LifecycleEventType, Parameters<typeof callbackPayload>[1]][] = [
    [
      'mission.accepted',
      { usage: { runtime_minutes: 0.5, llm_calls: 2, estimated_cost_usd: 0.03 } },
    ],
    [
      'mission.progress',
      {
        artifact_refs: ['plan.md'],
        usage: { runtime_minutes: 12, llm_calls: 30, estimated_cost_usd: 0.9 },
      },
    ],
    [
      'mission.blocked',
      {
        summary: 'Waiting for approval of git.push',
        artifact_refs: ['plan.md'],
        usage: { runtime_minutes: 20, llm_calls: 41, estimated_cost_usd: 1.2 },
      },
    ],
    [
      'mission.progress',
      {
        artifact_refs: ['plan.md', 'patch.diff'],
        usage: { runtime_minutes: 35, llm_calls: 80, estimated_cost_usd: 2.4 },
      },
    ],
    [
      'mission.artifact',
      {
        artifact_refs: ['patch.diff', 'test-report.json'],
        usage: { runtime_minutes: 35, llm_calls: 80, estimated_cost_usd: 2.4 },
      },
    ],
    [
      'mission.completed',
      {
        summary: 'Pagination added; all tests pass.',
        artifact_refs: ['test-report.json', 'summary.md', 'patch.diff'],
        artifact_index: [
          { ref: 'patch.diff', description: 'The change' },
          { ref: 'test-report.json' },
          { ref: 'summary.md' },
        ],
        next_action: 'Review and merge the patch.',
        usage: { runtime_minutes: 41, llm_calls: 96, estimated_cost_usd: 2.85 },
        emitted_at: '2025-11-20T09:41:00.000Z',
      },
    ],
  ];

  /** Runs every step through the real decide path, checking each is accepted. */
  function run(): { events: MissionEvent[]; states: (MissionState | undefined)[] } {
    const first = decideDispatch(
      undefined,
      {
        payload: dispatchPayload(),
        received_at: DISPATCHED_AT,
        principal: operator,
        allocatedSessionId: 'unused',
      },
      policyInForce(),
    );
    const events: MissionEvent[] = [...first.events];
    let state = foldMission(events);
    const states = [state];
    steps.forEach(([type, overrides], i) => {
      const decision = decideCallback(
        state,
        {
          missionId: MISSION_ID,
          payload: callbackPayload(type, overrides),
          received_at: `2025-11-20T09:${String(10 + i).padStart(2, '0')}:00.000Z`,
          principal: factory,
        },
        policyInForce(),
      );
      expect(decision.reasons, type).toEqual([]);
      events.push(...decision.events);
      state = decision.events.reduce(evolveMission, state);
      states.push(state);
    });
    return { events, states };
  }

  it('goes queued, running, running, blocked, running, running, completed', () => {
    expect(run().states.map((s) => s?.status)).toEqual([
      'queued',
      'running',
      'running',
      'blocked',
      'running',
      'running',
      'completed',
    ]);
  });

  it('ends closed, with artifacts de-duplicated in first-seen order and the latest usage', () => {
    const { events, states } = run();
    const state = foldMission(events);
    expect(state).toEqual(states.at(-1));
    expect(state).toMatchObject({
      status: 'completed',
      artifacts: ['plan.md', 'patch.diff', 'test-report.json', 'summary.md'],
      usage: { runtime_minutes: 41, llm_calls: 96, estimated_cost_usd: 2.85 },
      last_event: {
        type: 'mission.completed',
        summary: 'Pagination added; all tests pass.',
        emitted_at: '2025-11-20T09:41:00.000Z',
        received_at: '2025-11-20T09:15:00.000Z',
      },
      final: {
        status: 'completed',
        summary: 'Pagination added; all tests pass.',
        next_action: 'Review and merge the patch.',
        artifact_index: [
          { ref: 'patch.diff', description: 'The change' },
          { ref: 'test-report.json' },
          { ref: 'summary.md' },
        ],
      },
      accepted_count: 6,
      rejected_count: 0,
      dispatched_at: DISPATCHED_AT,
      updated_at: '2025-11-20T09:15:00.000Z',
      budget: dispatchPayload().budget,
    });
  });

  it('replays to the same state every time: the fold is a function of the log', () => {
    const { events } = run();
    const copy = JSON.parse(JSON.stringify(events)) as RecordedEvent[];
    expect(JSON.stringify(foldMission(copy))).toBe(JSON.stringify(foldMission(events)));
  });
});

describe('evolveMission', () => {
  it('never mutates the state it is given', () => {
    const state = frozen(foldMission(missionIn('running'))!);
    const snapshot = structuredClone(state);
    const next = evolveMission(state, accepted('mission.progress', { artifact_refs: ['a.txt'] }));
    expect(state).toEqual(snapshot);
    expect(next?.artifacts).toEqual(['a.txt']);
  });

  it('only counts rejections', () => {
    const state = foldMission(missionIn('running'))!;
    const rejections = [
      given(missionIn('running')).whenDispatch(dispatchPayload()).decision,
      given(missionIn('running')).whenCallback(
        callbackPayload('mission.progress', { trace_id: 'x' }),
      ).decision,
      given(missionIn('completed')).whenCancel().decision,
    ].flatMap((d) => d.events);
    expect(rejections.map((e) => e.type)).toEqual([
      'mission.dispatch_rejected',
      'mission.callback_rejected',
      'mission.cancel_rejected',
    ]);
    const after = rejections.reduce(evolveMission, state);
    expect(after).toEqual({ ...state, rejected_count: 3, updated_at: '2025-11-20T09:30:00.000Z' });
  });

  it('ignores event types it does not know (forward compatibility)', () => {
    const state = foldMission(missionIn('running'));
    for (const type of ['mission.heartbeat_missed', 'policy.decided', 'mission.something_new'])
      expect(evolveMission(state, { type, data: { anything: true } })).toBe(state);
  });

  it('throws LOG_INTEGRITY_VIOLATION for a known event whose data is malformed', () => {
    const state = foldMission(missionIn('running'));
    const bad = { type: 'mission.progress', data: { callback: { summary: 'no' } } };
    expect(() => evolveMission(state, bad)).toThrow(
      expect.toSatisfy((e: unknown) => isLedgerError(e, 'LOG_INTEGRITY_VIOLATION')),
    );
    expect(() => foldMission([{ type: 'mission.dispatched', data: {} }])).toThrow(
      'Stored mission.dispatched event data is malformed.',
    );
  });

  it('records a final event without next_action or artifact_index as null (a warn-mode policy)', () => {
    const incomplete = accepted('mission.failed', {
      artifact_index: undefined,
      next_action: undefined,
    });
    delete incomplete.data.callback.artifact_index;
    delete incomplete.data.callback.next_action;
    expect(foldMission([...missionIn('running'), incomplete])?.final).toEqual({
      status: 'failed',
      summary: 'mission.failed summary',
      next_action: null,
      artifact_index: null,
    });
  });

  it('keeps a closed mission closed even if a later accepted event were in the log', () => {
    const state = foldMission([...missionIn('completed'), accepted('mission.progress')]);
    expect(state?.status).toBe('completed');
    expect(state?.final?.status).toBe('completed');
    expect(state?.accepted_count).toBe(3);
  });
});

describe('cancel requests stay pending until a final event', () => {
  const cancel = (reason: string, at: string, stream: MissionEvent[]) =>
    decideCancel(foldMission(stream), { reason, requested_by: 'alice', received_at: at }).events;

  it('pends through progress and blocked, and clears when the factory reports cancelled', () => {
    const stream: MissionEvent[] = [...missionIn('running')];
    stream.push(...cancel('Budget reallocated.', '2025-11-20T09:20:00.000Z', stream));
    stream.push(accepted('mission.progress'));
    stream.push(accepted('mission.blocked'));
    stream.push(...cancel('Still running?', '2025-11-20T09:25:00.000Z', stream));
    const pending = foldMission(stream);
    expect(pending?.status).toBe('blocked');
    expect(pending?.pending_commands).toEqual([
      {
        type: 'cancel',
        reason: 'Budget reallocated.',
        requested_by: 'alice',
        requested_at: '2025-11-20T09:20:00.000Z',
      },
      {
        type: 'cancel',
        reason: 'Still running?',
        requested_by: 'alice',
        requested_at: '2025-11-20T09:25:00.000Z',
      },
    ]);
    stream.push(accepted('mission.cancelled'));
    const closed = foldMission(stream);
    expect(closed?.status).toBe('cancelled');
    expect(closed?.pending_commands).toEqual([]);
    expect(closed?.final?.status).toBe('cancelled');
  });

  it('is cleared by any final event, not only cancelled', () => {
    const stream: MissionEvent[] = [...missionIn('running')];
    stream.push(...cancel('Stop.', '2025-11-20T09:20:00.000Z', stream));
    stream.push(accepted('mission.completed'));
    expect(foldMission(stream)?.pending_commands).toEqual([]);
  });

  it('is pending on a queued mission too', () => {
    const stream: MissionEvent[] = [...missionIn('queued')];
    stream.push(...cancel('Stop.', '2025-11-20T09:20:00.000Z', stream));
    expect(foldMission(stream)).toMatchObject({
      status: 'queued',
      pending_commands: [{ type: 'cancel' }],
    });
  });
});
