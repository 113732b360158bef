import { describe, expect, it } from 'vitest';
import {
  MalformedEventError,
  policyDecisionsProjection,
  replayProjection,
  rowKey,
  snapshot,
  type PolicyFindingCountRow,
} from '../../projections/index.ts';
import type { PolicyInForce, RecordedEvent } from '../../src/domain/mission/index.ts';
import { activatePolicy } from '../../src/policy/active-policy.ts';
import { shippedProfiles } from '../../src/policy/shipped-profiles.ts';
import { emptyKeyRing, policyInForce } from '../support/policy.ts';
import {
  FACTORY_ID,
  accepted,
  callbackPayload,
  dispatchPayload,
  dispatched,
  given as missionGiven,
  operator,
} from './support/mission-given.ts';
import { EventLog, MISSION_ID, at, given, realisticLog } from './support/projection-given.ts';

const projection = policyDecisionsProjection;
const DISPATCH_HOUR = '2025-11-20T08:00:00.000Z';

/** The development profile with the budget rule in `mode` everywhere, under another id. */
function budgetIn(mode: 'shadow' | 'enforce'): PolicyInForce {
  const { development } = shippedProfiles;
  const profile = {
    ...development,
    id: `budget-${mode}`,
    rules: {
      ...development.rules,
      budget: { development: mode, staging: mode, production: mode },
    },
  };
  return { active: activatePolicy(profile, 'development', null), keys: emptyKeyRing() };
}

/** A callback over its LLM-call budget (250), emitted after the autonomy window (11:00Z). */
const overBudgetLate = (key: string, eventType: 'mission.progress' | 'mission.accepted') =>
  callbackPayload(eventType, {
    usage: { runtime_minutes: 5, llm_calls: 300, estimated_cost_usd: 1 },
    emitted_at: '2025-11-20T11:30:00.000Z',
    idempotency_key: key,
  });

/** The events the decider records for a callback under `policy`, received at `receivedAt`. */
function decided(
  stream: readonly RecordedEvent[],
  payload: unknown,
  policy: PolicyInForce,
  receivedAt: string,
): RecordedEvent[] {
  return [
    ...missionGiven(stream).whenCallback(payload, { policy, received_at: receivedAt }).decision
      .events,
  ];
}

const finding = (
  overrides: Partial<PolicyFindingCountRow> & Pick<PolicyFindingCountRow, 'rule' | 'code'>,
): PolicyFindingCountRow => ({
  hour: '2025-11-20T11:00:00.000Z',
  effect: 'warned',
  factory: FACTORY_ID,
  profile_id: 'development',
  findings: 1,
  ...overrides,
});

describe('policy_decisions', () => {
  it('given nothing, when a dispatch decided with no finding arrives, then it counts as decided in its hour', () => {
    const log = new EventLog();
    const then = given(projection, log).when(log.mission(MISSION_ID, dispatched()));
    expect(then.rows('policy_decisions_inputs')).toEqual([
      { hour: DISPATCH_HOUR, profile_id: 'development', decided: 1, rejected: 0 },
    ]);
    expect(then.rows('policy_decisions_findings')).toEqual([]);
  });

  it('given a dispatched mission, when a callback warns twice, then each warning is counted for its factory', () => {
    const log = new EventLog();
    const stream = [dispatched()];
    log.mission(MISSION_ID, ...stream);
    const events = decided(
      stream,
      overBudgetLate('event:late', 'mission.accepted'),
      policyInForce(),
      '2025-11-20T11:30:05.000Z',
    );
    expect(events.map((e) => e.type)).toEqual(['mission.accepted']);
    const then = given(projection, log).when(log.mission(MISSION_ID, ...events));
    expect(then.rows('policy_decisions_findings')).toEqual([
      finding({ rule: 'autonomy_window', code: 'OUTSIDE_AUTONOMY_WINDOW' }),
      finding({ rule: 'budget', code: 'BUDGET_EXCEEDED' }),
    ]);
    expect(then.rows('policy_decisions_inputs')).toEqual([
      { hour: DISPATCH_HOUR, profile_id: 'development', decided: 1, rejected: 0 },
      {
        hour: '2025-11-20T11:00:00.000Z',
        profile_id: 'development',
        decided: 1,
        rejected: 0,
      },
    ]);
  });

  it('given a running mission, when an enforcing profile rejects a callback, then the block and the rejection are counted', () => {
    const log = new EventLog();
    const stream = [dispatched(), accepted('mission.accepted')];
    log.mission(MISSION_ID, ...stream);
    const policy = budgetIn('enforce');
    const events = decided(
      stream,
      overBudgetLate('event:blocked', 'mission.progress'),
      policy,
      '2025-11-20T11:59:59.999Z',
    );
    expect(events.map((e) => e.type)).toEqual(['mission.callback_rejected']);
    const then = given(projection, log).when(log.mission(MISSION_ID, ...events));
    expect(then.rows('policy_decisions_findings')).toEqual([
      finding({
        rule: 'autonomy_window',
        code: 'OUTSIDE_AUTONOMY_WINDOW',
        profile_id: 'budget-enforce',
      }),
      finding({
        rule: 'budget',
        code: 'BUDGET_EXCEEDED',
        effect: 'rejected',
        profile_id: 'budget-enforce',
      }),
    ]);
    expect(
      then.row('policy_decisions_inputs', rowKey('2025-11-20T11:00:00.000Z', 'budget-enforce')),
    ).toEqual({
      hour: '2025-11-20T11:00:00.000Z',
      profile_id: 'budget-enforce',
      decided: 1,
      rejected: 1,
    });
  });

  it('given earlier findings in the hour, when a shadowed one arrives, then counts add up per key', () => {
    const log = new EventLog();
    const stream: RecordedEvent[] = [dispatched()];
    log.mission(MISSION_ID, ...stream);
    const first = decided(
      stream,
      overBudgetLate('event:1', 'mission.accepted'),
      budgetIn('shadow'),
      '2025-11-20T11:10:00.000Z',
    );
    log.mission(MISSION_ID, ...first);
    stream.push(...first);
    const second = decided(
      stream,
      overBudgetLate('event:2', 'mission.progress'),
      budgetIn('shadow'),
      '2025-11-20T11:20:00.000Z',
    );
    const then = given(projection, log).when(log.mission(MISSION_ID, ...second));
    expect(then.rows('policy_decisions_findings')).toEqual([
      finding({
        rule: 'autonomy_window',
        code: 'OUTSIDE_AUTONOMY_WINDOW',
        profile_id: 'budget-shadow',
        findings: 2,
      }),
      finding({
        rule: 'budget',
        code: 'BUDGET_EXCEEDED',
        effect: 'shadowed',
        profile_id: 'budget-shadow',
        findings: 2,
      }),
    ]);
    expect(
      then.row('policy_decisions_inputs', rowKey('2025-11-20T11:00:00.000Z', 'budget-shadow')),
    ).toMatchObject({ decided: 2, rejected: 0 });
  });

  it('counts findings on a dispatch under its operator, and a dispatch rejected otherwise as decided', () => {
    const staging = policyInForce('development', 'staging');
    const log = new EventLog();
    const first = missionGiven().whenDispatch(dispatchPayload(), {
      policy: staging,
      received_at: at('09:05'),
    });
    log.mission(MISSION_ID, ...first.decision.events);
    // A second dispatch of the mission: rejected (MISSION_EXISTS), not by the policy.
    const again = missionGiven(first.decision.events).whenDispatch(dispatchPayload(), {
      policy: staging,
      received_at: at('09:06'),
    });
    expect(again.decision.events.map((e) => e.type)).toEqual(['mission.dispatch_rejected']);
    const then = given(projection, log).when(log.mission(MISSION_ID, ...again.decision.events));
    expect(then.rows('policy_decisions_findings')).toEqual([
      finding({
        hour: '2025-11-20T09:00:00.000Z',
        rule: 'signature',
        code: 'SIGNATURE_MISSING',
        factory: operator.id,
        findings: 2,
      }),
    ]);
    expect(then.rows('policy_decisions_inputs')).toEqual([
      { hour: '2025-11-20T09:00:00.000Z', profile_id: 'development', decided: 2, rejected: 0 },
    ]);
  });

  it('ignores events without a decision, events of other streams and types it does not read', () => {
    const log = new EventLog();
    log.mission(MISSION_ID, dispatched());
    const before = given(projection, log);
    // Recorded before policies: no `policy` in the data.
    expect(before.when(log.mission(MISSION_ID, accepted('mission.accepted'))).changes).toEqual([]);
    const [rejected] = decided(
      [dispatched(), accepted('mission.accepted')],
      overBudgetLate('event:x', 'mission.progress'),
      budgetIn('enforce'),
      at('11:40'),
    );
    const elsewhere = log.append('ledger-rejections', {
      type: rejected!.type,
      data: { ...(rejected!.data as Record<string, unknown>), mission_id: MISSION_ID },
    });
    expect(before.when(elsewhere).changes).toEqual([]);
    expect(projection.handles('mission.cancel_requested')).toBe(false);
    expect(projection.handles('policy.activated')).toBe(false);
    expect(projection.handles('mission.callback_rejected')).toBe(true);
    expect(projection.handles('mission.timed_out')).toBe(true);
  });

  it('throws MalformedEventError naming the position when a recorded decision was edited', () => {
    const log = new EventLog();
    const stream = [dispatched(), accepted('mission.accepted')];
    log.mission(MISSION_ID, ...stream);
    const [event] = decided(
      stream,
      overBudgetLate('event:t', 'mission.progress'),
      budgetIn('enforce'),
      at('11:40'),
    );
    const data = structuredClone(event!.data) as { policy: { outcome: string } };
    data.policy.outcome = 'accepted';
    const tampered = log.mission(MISSION_ID, { type: event!.type, data });
    expect(() => given(projection, log).when(tampered)).toThrow(MalformedEventError);
    expect(() => given(projection, log).when(tampered)).toThrow(/position 3/);
  });

  it('replays a realistic log: every decided input counted once, old events ignored', () => {
    const model = replayProjection(projection, realisticLog().events);
    // The two dispatches and the callback rejected at 09:25 carry decisions; the accepted
    // callbacks of that log were written without one. The contract rules are policy rules the
    // development profile enforces: the rejected callback's two findings are blocks.
    const block = (rule: string, code: string) =>
      finding({ hour: '2025-11-20T09:00:00.000Z', rule, code, effect: 'rejected' });
    expect(snapshot(model)).toEqual({
      policy_decisions_findings: [
        block('identity', 'IDENTITY_MISMATCH'),
        block('usage_monotonic', 'USAGE_DECREASED'),
      ],
      policy_decisions_inputs: [
        { hour: DISPATCH_HOUR, profile_id: 'development', decided: 2, rejected: 0 },
        { hour: '2025-11-20T09:00:00.000Z', profile_id: 'development', decided: 1, rejected: 1 },
      ],
    });
  });

  it('prefetches exactly the rows each event changes', () => {
    const log = realisticLog();
    const stream: RecordedEvent[] = [dispatched(), accepted('mission.accepted')];
    log.mission(
      MISSION_ID,
      ...decided(
        stream,
        overBudgetLate('event:p', 'mission.progress'),
        budgetIn('enforce'),
        at('11:40'),
      ),
    );
    for (const event of log.events) {
      const changes = given(projection, new EventLog()).when(event).changes;
      expect(projection.prefetch!(event)).toEqual(
        changes.map(({ table, key }) => ({ table, key })),
      );
    }
  });
});
