import { createHash } from 'node:crypto';
import { policyInForce } from '../support/policy.ts';

/** The decision of the development profile in development when no rule fired. */
const developmentDecision = (outcome: 'accepted' | 'rejected') => {
  const { active } = policyInForce();
  return {
    profile: { id: 'development', digest: active.digest },
    environment: 'development' as const,
    override: null,
    outcome,
    findings: [],
  };
};
import { describe, expect, it } from 'vitest';
import {
  lifecycleEventTypeSchema,
  missionStatusSchema,
  type LifecycleEventType,
  type MissionStatus,
} from '../../schemas/index.ts';
import {
  allowedEventTypes,
  callbackRules,
  decideCallback,
  decideCancel,
  decideDispatch,
  expectedStatuses,
  recordedInput,
  storableInput,
  workspaceKey,
  type CallbackRule,
} from '../../src/domain/mission/index.ts';
import { errorCodes } from '../../src/errors.ts';
import { sameJson } from '../../src/audit/canonical-json.ts';
import { errorStatus } from '../../src/http/error-status.ts';
import {
  ALLOCATED_SESSION,
  FACTORY_ID,
  MISSION_ID,
  RECEIVED_AT,
  accepted,
  callbackPayload,
  dispatchPayload,
  dispatched,
  factory,
  given,
  missionIn,
  operator,
} from './support/mission-given.ts';

const eventTypes = lifecycleEventTypeSchema.options;
const statuses = missionStatusSchema.options;
const openStatuses = ['queued', 'running', 'blocked'] as const;
const closedStatuses = ['completed', 'failed', 'cancelled', 'timed_out'] as const;

/** The status a callback of `type` reports from `from`: `from` itself when the type allows it. */
const reportedStatus = (type: LifecycleEventType, from: MissionStatus): MissionStatus =>
  expectedStatuses[type].includes(from) ? from : expectedStatuses[type][0]!;

describe('decideDispatch', () => {
  it('accepts the example dispatch as mission.dispatched with its own session and workspace', () => {
    const payload = dispatchPayload();
    const then = given().whenDispatch(payload).thenAccepted('mission.dispatched');
    then.thenEvents([
      {
        type: 'mission.dispatched',
        data: {
          input: payload,
          vp_session_id: 'vps_01JD8Z5YB2W9E4QK7TPM0RXAGD',
          vp_session_allocated: false,
          workspace_key: workspaceKey('vp.coder.primary', 'vps_01JD8Z5YB2W9E4QK7TPM0RXAGD'),
          received_at: RECEIVED_AT,
          principal: operator,
          policy: developmentDecision('accepted'),
        },
      },
    ]);
    expect(then.decision.missionId).toBe(MISSION_ID);
    expect(then.decision.vpSessionId).toBe('vps_01JD8Z5YB2W9E4QK7TPM0RXAGD');
  });

  it('uses the allocated session id when the payload has none (seed 002 §1.1.2)', () => {
    const { vp_session_id: _omitted, ...payload } = dispatchPayload();
    const then = given().whenDispatch(payload, { allocatedSessionId: 'vps_new' }).thenAccepted();
    const data = then.decision.events[0]!.data as Record<string, unknown>;
    expect(data.vp_session_id).toBe('vps_new');
    expect(data.vp_session_allocated).toBe(true);
    expect(data.workspace_key).toBe(workspaceKey('vp.coder.primary', 'vps_new'));
    expect(data.input).toEqual(payload);
    expect(data.input).not.toHaveProperty('vp_session_id');
    expect(then.decision.vpSessionId).toBe('vps_new');
  });

  it('rejects a payload that fails the schema with SCHEMA_INVALID naming every path', () => {
    const payload = { ...dispatchPayload(), vp_id: undefined, priority: 'high' } as Record<
      string,
      unknown
    >;
    payload.budget = { ...dispatchPayload().budget, max_cost_usd: -1 };
    const then = given().whenDispatch(payload).thenRejected('SCHEMA_INVALID');
    const { message } = then.thenReason('SCHEMA_INVALID');
    expect(message).toMatch(/^The payload does not match the contract: /);
    expect(message).toContain('vp_id: ');
    expect(message).toContain('budget.max_cost_usd: ');
    expect(message).toContain('(root): ');
    expect(then.decision.events[0]).toMatchObject({
      type: 'mission.dispatch_rejected',
      data: { input: payload, received_at: RECEIVED_AT, principal: operator },
    });
    // The payload names its mission, so the rejection can go to that mission's stream.
    expect(then.decision.missionId).toBe(MISSION_ID);
    expect(then.decision.vpSessionId).toBeUndefined();
  });

  it.each([
    ['null', null],
    ['a string', 'dispatch me'],
    ['an array', [1, 2]],
    ['no mission_id', { objective: 'x' }],
    ['an empty mission_id', { mission_id: '' }],
  ])('rejects %s with SCHEMA_INVALID and names no mission', (_name, payload) => {
    const then = given().whenDispatch(payload).thenRejected('SCHEMA_INVALID');
    expect(then.decision.missionId).toBeUndefined();
    expect((then.decision.events[0]!.data as { input: unknown }).input).toEqual(payload);
  });

  it('records an absent payload as null: JSON has no undefined', () => {
    const then = given().whenDispatch(undefined).thenRejected('SCHEMA_INVALID');
    expect((then.decision.events[0]!.data as { input: unknown }).input).toBeNull();
  });

  it('rejects a second dispatch for the same mission with MISSION_EXISTS', () => {
    const then = given([dispatched()])
      .whenDispatch(dispatchPayload({ objective: 'Something else' }))
      .thenRejected('MISSION_EXISTS');
    expect(then.decision.missionId).toBe(MISSION_ID);
    expect(then.thenReason('MISSION_EXISTS').message).toContain(MISSION_ID);
  });

  it('reports SCHEMA_INVALID before MISSION_EXISTS when both apply', () => {
    given([dispatched()])
      .whenDispatch({ ...dispatchPayload(), mission_type: 'poetry' })
      .thenRejected('SCHEMA_INVALID', 'MISSION_EXISTS');
  });
});

describe('decideCallback: gates', () => {
  it('accepts the example callback from the factory the mission was dispatched to', () => {
    const payload = callbackPayload('mission.accepted');
    given(missionIn('queued'))
      .whenCallback(payload)
      .thenAccepted('mission.accepted')
      .thenEvents([
        {
          type: 'mission.accepted',
          data: {
            callback: payload,
            received_at: RECEIVED_AT,
            principal: factory,
            policy: developmentDecision('accepted'),
          },
        },
      ]);
  });

  it('rejects a payload that fails the schema with SCHEMA_INVALID alone, running no rule', () => {
    // Wrong instance, wrong trace and an unknown field: only the schema speaks.
    const payload = { ...callbackPayload('mission.progress'), trace_id: 'other', extra: 1 };
    const then = given(missionIn('completed'))
      .whenCallback(payload, { principal: { role: 'factory', id: 'ua-factory-99' } })
      .thenRejected('SCHEMA_INVALID');
    expect(then.thenReason('SCHEMA_INVALID').message).toContain('(root): ');
    expect(then.decision.events[0]).toMatchObject({
      type: 'mission.callback_rejected',
      data: { input: payload },
    });
  });

  it('rejects a callback for an unknown mission with MISSION_NOT_FOUND alone', () => {
    const then = given()
      .whenCallback(callbackPayload('mission.accepted'))
      .thenRejected('MISSION_NOT_FOUND');
    expect(then.thenReason('MISSION_NOT_FOUND').message).toContain(MISSION_ID);
  });

  it('reports SCHEMA_INVALID first, then MISSION_NOT_FOUND, when both apply', () => {
    given()
      .whenCallback({ ...callbackPayload('mission.accepted'), status: 'paused' })
      .thenRejected('SCHEMA_INVALID', 'MISSION_NOT_FOUND');
  });

  it.each([
    ['a number', 42],
    ['null', null],
    ['a list', ['mission.accepted']],
  ])('records %s as received', (_name, payload) => {
    const then = given(missionIn('queued')).whenCallback(payload).thenRejected('SCHEMA_INVALID');
    expect((then.decision.events[0]!.data as { input: unknown }).input).toEqual(payload);
  });
});

describe('decideCallback: the transition matrix', () => {
  const cases = openStatuses.flatMap((from) =>
    eventTypes.map((type) => [from, type, allowedEventTypes[from].includes(type)] as const),
  );

  it('allows exactly the documented event types per status', () => {
    expect(allowedEventTypes).toEqual({
      queued: ['mission.accepted', 'mission.failed', 'mission.cancelled', 'mission.timed_out'],
      running: [
        'mission.progress',
        'mission.blocked',
        'mission.artifact',
        'mission.completed',
        'mission.failed',
        'mission.cancelled',
        'mission.timed_out',
      ],
      blocked: [
        'mission.progress',
        'mission.blocked',
        'mission.artifact',
        'mission.failed',
        'mission.cancelled',
        'mission.timed_out',
      ],
      completed: [],
      failed: [],
      cancelled: [],
      timed_out: [],
    });
  });

  it.each(cases)('from %s, %s is legal: %s', (from, type, legal) => {
    const status = reportedStatus(type, from);
    const then = given(missionIn(from)).whenCallback(callbackPayload(type, { status }));
    if (legal) {
      then.thenAccepted(type);
      expect(then.thenState()?.status).toBe(status);
    } else {
      then.thenRejected('TRANSITION_ILLEGAL');
      const { message } = then.thenReason('TRANSITION_ILLEGAL');
      expect(message).toContain(`${type} is not allowed from status "${from}"`);
      expect(then.thenState()?.status).toBe(from);
    }
  });

  it('moves a blocked mission back to running on progress', () => {
    const then = given(missionIn('blocked'))
      .whenCallback(callbackPayload('mission.progress'))
      .thenAccepted();
    expect(then.thenState()?.status).toBe('running');
  });

  it('lets an artifact report either running or blocked', () => {
    for (const from of ['running', 'blocked'] as const)
      for (const status of ['running', 'blocked'] as const) {
        const then = given(missionIn(from))
          .whenCallback(callbackPayload('mission.artifact', { status }))
          .thenAccepted();
        expect(then.thenState()?.status).toBe(status);
      }
  });

  it('accepts accepted only from queued', () => {
    for (const from of statuses) {
      const then = given(missionIn(from)).whenCallback(callbackPayload('mission.accepted'));
      expect(then.decision.outcome, from).toBe(from === 'queued' ? 'accepted' : 'rejected');
    }
  });

  it.each(closedStatuses.flatMap((from) => eventTypes.map((type) => [from, type] as const)))(
    'a mission closed as %s rejects %s with MISSION_CLOSED only',
    (from, type) => {
      const then = given(missionIn(from))
        .whenCallback(callbackPayload(type))
        .thenRejected('MISSION_CLOSED');
      expect(then.thenReason('MISSION_CLOSED').message).toContain(`status "${from}"`);
      expect(then.thenState()?.final?.status).toBe(from);
    },
  );
});

describe('decideCallback: STATUS_MISMATCH', () => {
  it('pins the status each event type must report', () => {
    expect(expectedStatuses).toEqual({
      'mission.accepted': ['running'],
      'mission.progress': ['running'],
      'mission.blocked': ['blocked'],
      'mission.artifact': ['running', 'blocked'],
      'mission.completed': ['completed'],
      'mission.failed': ['failed'],
      'mission.cancelled': ['cancelled'],
      'mission.timed_out': ['timed_out'],
    });
  });

  it.each(eventTypes.flatMap((type) => statuses.map((status) => [type, status] as const)))(
    '%s reporting %s',
    (type, status) => {
      // From a status where the type is legal, so only the status can be wrong.
      const from = type === 'mission.accepted' ? 'queued' : 'running';
      const then = given(missionIn(from)).whenCallback(callbackPayload(type, { status }));
      if (expectedStatuses[type].includes(status)) then.thenAccepted(type);
      else {
        then.thenRejected('STATUS_MISMATCH');
        expect(then.thenReason('STATUS_MISMATCH').message).toContain(`not "${status}"`);
      }
    },
  );
});

describe('decideCallback: identity and trace', () => {
  const identity = [
    ['mission_id', 'msn_someone_else'],
    ['vp_id', 'vp.research.primary'],
    ['vp_session_id', 'vps_other'],
    ['vp_runtime_id', 'rt.coder.lane-9'],
  ] as const;

  it.each(identity)('rejects a callback whose %s differs, naming the field', (field, value) => {
    const then = given(missionIn('running'))
      .whenCallback(callbackPayload('mission.progress', { [field]: value }))
      .thenRejected('IDENTITY_MISMATCH');
    const { message } = then.thenReason('IDENTITY_MISMATCH');
    expect(message).toMatch(new RegExp(`^${field} differs from the dispatch: ${field} "${value}"`));
    for (const [other] of identity) if (other !== field) expect(message).not.toContain(other);
  });

  it('names every differing field in one reason, in contract order', () => {
    const then = given(missionIn('running'))
      .whenCallback(callbackPayload('mission.progress', Object.fromEntries(identity)))
      .thenRejected('IDENTITY_MISMATCH');
    expect(then.thenReason('IDENTITY_MISMATCH').message).toMatch(
      /^mission_id, vp_id, vp_session_id, vp_runtime_id differ from the dispatch: mission_id "msn_someone_else" \(expected "msn_01JD8Z6Q4X7T2K9RBM3V5N1HCF"\); vp_id/,
    );
  });

  it('checks the mission_id of the URL against the callback', () => {
    const then = given(missionIn('running'))
      .whenCallback(callbackPayload('mission.progress'), { missionId: 'msn_from_url' })
      .thenRejected('IDENTITY_MISMATCH');
    expect(then.thenReason('IDENTITY_MISMATCH').message).toBe(
      `mission_id differs from the dispatch: mission_id "${MISSION_ID}" (expected "msn_from_url").`,
    );
  });

  it('checks vp_session_id against the session the ledger allocated', () => {
    const { vp_session_id: _omitted, ...payload } = dispatchPayload();
    const stream = [dispatched(payload)];
    given(stream)
      .whenCallback(callbackPayload('mission.accepted'))
      .thenRejected('IDENTITY_MISMATCH');
    given(stream)
      .whenCallback(callbackPayload('mission.accepted', { vp_session_id: ALLOCATED_SESSION }))
      .thenAccepted();
  });

  it('rejects a callback with another trace_id with TRACE_MISMATCH naming both', () => {
    const then = given(missionIn('running'))
      .whenCallback(callbackPayload('mission.progress', { trace_id: 'trace-x' }))
      .thenRejected('TRACE_MISMATCH');
    expect(then.thenReason('TRACE_MISMATCH').message).toBe(
      `trace_id "trace-x" differs from the dispatch's "${callbackPayload('mission.progress').trace_id}".`,
    );
  });
});

describe('decideCallback: factory instance binding', () => {
  it('rejects a factory posting for a mission dispatched to another instance', () => {
    const then = given(missionIn('queued'))
      .whenCallback(callbackPayload('mission.accepted'), {
        principal: { role: 'factory', id: 'ua-factory-99' },
      })
      .thenRejected('FORBIDDEN_INSTANCE');
    expect(then.thenReason('FORBIDDEN_INSTANCE').message).toContain(`"${FACTORY_ID}"`);
    expect(then.thenReason('FORBIDDEN_INSTANCE').message).toContain('"ua-factory-99"');
  });

  it.each([
    ['the target factory', factory],
    ['an operator', operator],
    ['an auditor', { role: 'auditor' as const, id: 'audit-1' }],
  ])('accepts a callback from %s', (_name, principal) => {
    given(missionIn('queued'))
      .whenCallback(callbackPayload('mission.accepted'), { principal })
      .thenAccepted();
  });
});

describe('decideCallback: final events (seed 002 §6.3)', () => {
  const finalTypes = [
    'mission.completed',
    'mission.failed',
    'mission.cancelled',
    'mission.timed_out',
  ] as const;

  it.each(finalTypes)('%s with an artifact index and a next action is accepted', (type) => {
    const then = given(missionIn('running')).whenCallback(callbackPayload(type)).thenAccepted();
    expect(then.thenState()?.final).toEqual({
      status: expectedStatuses[type][0],
      summary: `${type} summary`,
      next_action: 'Review and merge the patch.',
      artifact_index: [{ ref: 'patch.diff', description: 'The change' }],
    });
  });

  it.each(finalTypes)('%s with an empty artifact index is accepted', (type) => {
    given(missionIn('running'))
      .whenCallback(callbackPayload(type, { artifact_index: [] }))
      .thenAccepted();
  });

  it.each(
    finalTypes.flatMap(
      (type) =>
        [
          [type, { artifact_index: undefined }, 'lacks artifact_index.'],
          [type, { next_action: undefined }, 'lacks a non-empty next_action.'],
          [type, { next_action: '   ' }, 'lacks a non-empty next_action.'],
          [
            type,
            { artifact_index: undefined, next_action: undefined },
            'lacks artifact_index and a non-empty next_action.',
          ],
        ] as const,
    ),
  )('%s with %o is FINAL_EVENT_INCOMPLETE', (type, overrides, ending) => {
    const payload = callbackPayload(type);
    for (const [key, value] of Object.entries(overrides)) {
      if (value === undefined) delete (payload as Record<string, unknown>)[key];
      else (payload as Record<string, unknown>)[key] = value;
    }
    const then = given(missionIn('running'))
      .whenCallback(payload)
      .thenRejected('FINAL_EVENT_INCOMPLETE');
    expect(then.thenReason('FINAL_EVENT_INCOMPLETE').message).toBe(
      `${type} is a final event and ${ending}`,
    );
    expect(then.thenState()?.final).toBeNull();
  });

  it('does not ask non-final events for an artifact index or next action', () => {
    for (const type of ['mission.progress', 'mission.blocked', 'mission.artifact'] as const)
      given(missionIn('running')).whenCallback(callbackPayload(type)).thenAccepted();
  });
});

describe('decideCallback: usage never decreases', () => {
  const base = { runtime_minutes: 10, llm_calls: 20, estimated_cost_usd: 1.5 };
  const stream = [...missionIn('queued'), accepted('mission.accepted', { usage: base })];

  it('accepts equal usage', () => {
    given(stream)
      .whenCallback(callbackPayload('mission.progress', { usage: { ...base } }))
      .thenAccepted();
  });

  it('accepts higher usage and records it as the latest', () => {
    const usage = { runtime_minutes: 11, llm_calls: 25, estimated_cost_usd: 1.75 };
    const then = given(stream)
      .whenCallback(callbackPayload('mission.progress', { usage }))
      .thenAccepted();
    expect(then.thenState()?.usage).toEqual(usage);
  });

  it.each([
    ['runtime_minutes', 9.5, 'runtime_minutes 9.5 < 10'],
    ['llm_calls', 19, 'llm_calls 19 < 20'],
    ['estimated_cost_usd', 1.49, 'estimated_cost_usd 1.49 < 1.5'],
  ] as const)('rejects a lower %s with USAGE_DECREASED', (field, value, detail) => {
    const then = given(stream)
      .whenCallback(callbackPayload('mission.progress', { usage: { ...base, [field]: value } }))
      .thenRejected('USAGE_DECREASED');
    expect(then.thenReason('USAGE_DECREASED').message).toBe(
      `Usage is lower than already reported: ${detail}.`,
    );
    expect(then.thenState()?.usage).toEqual(base);
  });

  it('names every lower field', () => {
    const then = given(stream)
      .whenCallback(
        callbackPayload('mission.progress', {
          usage: { ...base, llm_calls: 0, runtime_minutes: 0 },
        }),
      )
      .thenRejected('USAGE_DECREASED');
    expect(then.thenReason('USAGE_DECREASED').message).toBe(
      'Usage is lower than already reported: runtime_minutes 0 < 10, llm_calls 0 < 20.',
    );
  });
});

describe('decideCallback: collecting reasons', () => {
  it('reports every violated rule in rule order, and the first is primary', () => {
    const stream = [
      ...missionIn('running'),
      accepted('mission.completed', {
        usage: { runtime_minutes: 50, llm_calls: 100, estimated_cost_usd: 5 },
      }),
    ];
    const then = given(stream)
      .whenCallback(callbackPayload('mission.progress', { vp_id: 'vp.x', trace_id: 'trace-x' }), {
        principal: { role: 'factory', id: 'ua-factory-99' },
      })
      .thenRejected(
        'FORBIDDEN_INSTANCE',
        'MISSION_CLOSED',
        'IDENTITY_MISMATCH',
        'TRACE_MISMATCH',
        'USAGE_DECREASED',
      );
    expect(then.decision.reasons[0]?.code).toBe('FORBIDDEN_INSTANCE');
    expect(errorStatus[then.decision.reasons[0]!.code]).toBe(403);
  });

  it('reports STATUS_MISMATCH and TRANSITION_ILLEGAL together on an open mission', () => {
    given(missionIn('queued'))
      .whenCallback(callbackPayload('mission.completed', { status: 'running' }))
      .thenRejected('STATUS_MISMATCH', 'TRANSITION_ILLEGAL');
  });

  it('runs the rules it is given, so a policy can add its own', () => {
    const noWeekendRule: CallbackRule = {
      code: 'TRANSITION_ILLEGAL',
      check: (_state, callback) =>
        callback.summary.includes('weekend') ? 'No work on weekends.' : undefined,
    };
    const rules = [...callbackRules, noWeekendRule];
    given(missionIn('running'))
      .whenCallback(callbackPayload('mission.progress', { summary: 'weekend push' }), { rules })
      .thenRejected('TRANSITION_ILLEGAL');
    given(missionIn('running'))
      .whenCallback(callbackPayload('mission.progress'), { rules })
      .thenAccepted();
  });

  it('every reason code has a default message and an HTTP status', () => {
    for (const rule of callbackRules) {
      expect(errorCodes[rule.code]).toBeTypeOf('string');
      expect(errorStatus[rule.code]).toBeGreaterThanOrEqual(400);
    }
  });
});

describe('decideCancel', () => {
  it('accepts a cancel request for an open mission', () => {
    given(missionIn('running'))
      .whenCancel({ reason: 'Stop.', requested_by: 'alice' })
      .thenAccepted('mission.cancel_requested')
      .thenEvents([
        {
          type: 'mission.cancel_requested',
          data: { reason: 'Stop.', requested_by: 'alice', received_at: RECEIVED_AT },
        },
      ]);
  });

  it('rejects a cancel for an unknown mission with MISSION_NOT_FOUND', () => {
    given().whenCancel().thenRejected('MISSION_NOT_FOUND');
  });

  it.each(closedStatuses)(
    'rejects a cancel for a mission closed as %s with MISSION_CLOSED',
    (s) => {
      const then = given(missionIn(s))
        .whenCancel({ reason: 'Stop.', requested_by: 'alice' })
        .thenRejected('MISSION_CLOSED');
      then.thenEvents([
        {
          type: 'mission.cancel_rejected',
          data: {
            reason: 'Stop.',
            requested_by: 'alice',
            reasons: then.decision.reasons,
            received_at: RECEIVED_AT,
          },
        },
      ]);
    },
  );

  it('accepts a reason of 2000 characters and rejects 0 or 2001 with SCHEMA_INVALID', () => {
    given(missionIn('running'))
      .whenCancel({ reason: 'x'.repeat(2000) })
      .thenAccepted();
    given(missionIn('running'))
      .whenCancel({ reason: 'x'.repeat(2001) })
      .thenRejected('SCHEMA_INVALID');
    const then = given(missionIn('running'))
      .whenCancel({ reason: '' })
      .thenRejected('SCHEMA_INVALID');
    expect(then.thenReason('SCHEMA_INVALID').message).toContain('reason: ');
    given().whenCancel({ requested_by: '' }).thenRejected('SCHEMA_INVALID', 'MISSION_NOT_FOUND');
  });
});

describe('determinism', () => {
  const twice = <T>(decide: () => T): [string, string] => [
    JSON.stringify(decide()),
    JSON.stringify(decide()),
  ];
  const input = { received_at: RECEIVED_AT, principal: factory };

  it.each([
    [
      'an accepted dispatch',
      () =>
        decideDispatch(
          undefined,
          { ...input, payload: dispatchPayload(), allocatedSessionId: 'a' },
          policyInForce(),
        ),
    ],
    [
      'a rejected dispatch',
      () =>
        decideDispatch(
          undefined,
          { ...input, payload: { mission_id: 'm' }, allocatedSessionId: 'a' },
          policyInForce(),
        ),
    ],
    [
      'an accepted callback',
      () =>
        decideCallback(
          given(missionIn('queued')).state,
          { ...input, missionId: MISSION_ID, payload: callbackPayload('mission.accepted') },
          policyInForce(),
        ),
    ],
    [
      'a rejected callback',
      () =>
        decideCallback(
          given(missionIn('completed')).state,
          {
            ...input,
            missionId: 'x',
            payload: callbackPayload('mission.progress', { trace_id: 't' }),
          },
          policyInForce(),
        ),
    ],
    [
      'a cancel',
      () =>
        decideCancel(given(missionIn('running')).state, {
          reason: 'r',
          requested_by: 'o',
          received_at: RECEIVED_AT,
        }),
    ],
  ])('deciding %s twice gives byte-identical events', (_name, decide) => {
    const [first, second] = twice(decide);
    expect(first).toBe(second);
  });

  it('allocates nothing itself: the session id is the one passed in', () => {
    const { vp_session_id: _omitted, ...payload } = dispatchPayload();
    const decide = (id: string) =>
      decideDispatch(undefined, { ...input, payload, allocatedSessionId: id }, policyInForce())
        .vpSessionId;
    expect([decide('s1'), decide('s1'), decide('s2')]).toEqual(['s1', 's1', 's2']);
  });
});

describe('workspaceKey (seed 002 §1.1.4)', () => {
  it('is ws_ and the first 24 hex characters of sha256(vp_id NUL vp_session_id)', () => {
    const expected = createHash('sha256').update('vp.coder.primary\u0000vps_1').digest('hex');
    expect(workspaceKey('vp.coder.primary', 'vps_1')).toBe(`ws_${expected.slice(0, 24)}`);
    expect(workspaceKey('vp.coder.primary', 'vps_1')).toMatch(/^ws_[0-9a-f]{24}$/);
  });

  it('separates the two ids, so shifting characters between them changes the key', () => {
    expect(workspaceKey('ab', 'c')).not.toBe(workspaceKey('a', 'bc'));
    expect(workspaceKey('vp', 's1')).not.toBe(workspaceKey('vp', 's2'));
  });
});

describe('idempotency', () => {
  /**
   * What the command handler compares for a retry: the input an event recorded, and the payload
   * as it would be recorded, as canonical JSON.
   */
  const sameInput = (prior: { type: string; data: unknown }, payload: unknown): boolean => {
    const recorded = recordedInput(prior);
    return recorded !== undefined && sameJson(recorded, storableInput(payload ?? null));
  };

  it('compares a dispatch with the input as received, ignoring key order', () => {
    const prior = dispatched();
    const reordered = Object.fromEntries(Object.entries(dispatchPayload()).reverse());
    expect(sameInput(prior, reordered)).toBe(true);
    expect(sameInput(prior, dispatchPayload({ objective: 'Other' }))).toBe(false);
  });

  it('compares a dispatch that got an allocated session with the payload that had none', () => {
    const { vp_session_id: _omitted, ...payload } = dispatchPayload();
    expect(sameInput(dispatched(payload), payload)).toBe(true);
    expect(sameInput(dispatched(payload), dispatchPayload())).toBe(false);
  });

  it('compares an accepted callback with data.callback', () => {
    const prior = accepted('mission.progress');
    expect(sameInput(prior, callbackPayload('mission.progress'))).toBe(true);
    expect(sameInput(prior, callbackPayload('mission.progress', { summary: 'x' }))).toBe(false);
  });

  it('compares rejections with data.input, even when it never parsed', () => {
    const rejected = given(missionIn('running')).whenCallback({ garbage: [1, 2] }).decision
      .events[0]!;
    expect(sameInput(rejected, { garbage: [1, 2] })).toBe(true);
    expect(sameInput(rejected, { garbage: [2, 1] })).toBe(false);
    const rejectedDispatch = given().whenDispatch(undefined).decision.events[0]!;
    expect(sameInput(rejectedDispatch, undefined)).toBe(true);
  });

  it('compares cancel requests by their reason', () => {
    const requested = given(missionIn('running')).whenCancel({ reason: 'Stop.' }).decision
      .events[0]!;
    expect(sameInput(requested, { reason: 'Stop.' })).toBe(true);
    expect(sameInput(requested, { reason: 'Halt.' })).toBe(false);
    const rejected = given().whenCancel({ reason: 'Stop.' }).decision.events[0]!;
    expect(sameInput(rejected, { reason: 'Stop.' })).toBe(true);
  });

  it('never matches an event type that records no input', () => {
    expect(sameInput({ type: 'mission.heartbeat_missed', data: { input: 1 } }, 1)).toBe(false);
  });
});
