import { readFileSync } from 'node:fs';
import { expect } from 'vitest';
import {
  lifecycleEventSchema,
  missionDispatchSchema,
  missionEventDataSchemas,
  type LifecycleEvent,
  type LifecycleEventType,
  type MissionDispatch,
  type MissionStatus,
  type Principal,
} from '../../../schemas/index.ts';
import {
  decideCallback,
  decideCancel,
  decideDispatch,
  expectedStatuses,
  foldMission,
  type CallbackRule,
  type Decision,
  type DispatchDecision,
  type MissionCallbackAcceptedEvent,
  type MissionEvent,
  type MissionState,
  type PolicyInForce,
  type Reason,
  type ReasonCode,
  type RecordedEvent,
} from '../../../src/domain/mission/index.ts';
import { policyInForce } from '../../support/policy.ts';

const readJson = (path: string): unknown =>
  JSON.parse(readFileSync(new URL(`../../../${path}`, import.meta.url), 'utf8'));

/** fixtures/mission-dispatch.example.json, parsed. */
export const dispatchFixture: MissionDispatch = missionDispatchSchema.parse(
  readJson('fixtures/mission-dispatch.example.json'),
);
/** fixtures/lifecycle-event.example.json, parsed (a `mission.accepted`). */
export const callbackFixture: LifecycleEvent = lifecycleEventSchema.parse(
  readJson('fixtures/lifecycle-event.example.json'),
);

export const MISSION_ID = dispatchFixture.mission_id;
export const FACTORY_ID = dispatchFixture.target_instance_id;
export const DISPATCHED_AT = '2025-11-20T08:58:42.000Z';
export const RECEIVED_AT = '2025-11-20T09:30:00.000Z';
export const ALLOCATED_SESSION = 'vps_allocated_by_ledger';

export const operator: Principal = { role: 'operator', id: 'simone-cp-eu1' };
export const factory: Principal = { role: 'factory', id: FACTORY_ID };

const finalTypes = new Set<LifecycleEventType>([
  'mission.completed',
  'mission.failed',
  'mission.cancelled',
  'mission.timed_out',
]);

/** A copy of the dispatch fixture with `overrides` applied. */
export function dispatchPayload(overrides: Partial<MissionDispatch> = {}): MissionDispatch {
  return { ...structuredClone(dispatchFixture), ...overrides };
}

/**
 * A valid callback of `eventType` built on the lifecycle fixture: the status the type implies
 * (the first one for `mission.artifact`), and for final types an artifact index and a next action.
 */
export function callbackPayload(
  eventType: LifecycleEventType,
  overrides: Partial<LifecycleEvent> = {},
): LifecycleEvent {
  const base: LifecycleEvent = {
    ...structuredClone(callbackFixture),
    event_type: eventType,
    status: expectedStatuses[eventType][0]!,
    summary: `${eventType} summary`,
    idempotency_key: `event:${MISSION_ID}:${eventType}`,
  };
  if (finalTypes.has(eventType)) {
    base.artifact_index = [{ ref: 'patch.diff', description: 'The change' }];
    base.next_action = 'Review and merge the patch.';
  }
  return { ...base, ...overrides };
}

/** The `mission.dispatched` event the decider makes of `payload`. */
export function dispatched(payload: unknown = dispatchPayload()): MissionEvent {
  const decision = decideDispatch(
    undefined,
    {
      payload,
      received_at: DISPATCHED_AT,
      principal: operator,
      allocatedSessionId: ALLOCATED_SESSION,
    },
    policyInForce(),
  );
  expect(decision.outcome).toBe('accepted');
  return decision.events[0]!;
}

/** An accepted lifecycle event, as the log would hold it. */
export function accepted(
  eventType: LifecycleEventType,
  overrides: Partial<LifecycleEvent> = {},
  receivedAt = '2025-11-20T09:10:00.000Z',
): MissionCallbackAcceptedEvent {
  return {
    type: eventType,
    data: {
      callback: callbackPayload(eventType, overrides),
      received_at: receivedAt,
      principal: factory,
    },
  };
}

/** A stream whose fold is a mission in `status`: dispatched, then accepted events to get there. */
export function missionIn(status: MissionStatus): MissionEvent[] {
  const start = dispatched();
  switch (status) {
    case 'queued':
      return [start];
    case 'running':
      return [start, accepted('mission.accepted')];
    case 'blocked':
      return [start, accepted('mission.accepted'), accepted('mission.blocked')];
    case 'completed':
      return [start, accepted('mission.accepted'), accepted('mission.completed')];
    case 'failed':
      return [start, accepted('mission.failed')];
    case 'cancelled':
      return [start, accepted('mission.accepted'), accepted('mission.cancelled')];
    case 'timed_out':
      return [start, accepted('mission.accepted'), accepted('mission.timed_out')];
  }
}

/** The `then` side of a scenario: assertions on one decision. */
export class Then<D extends Decision = Decision> {
  constructor(
    readonly given: readonly RecordedEvent[],
    readonly decision: D,
  ) {}

  /** Asserts an acceptance: no reasons, one event that is not a rejection, valid per its schema. */
  thenAccepted(type?: string): this {
    expect(this.decision.reasons).toEqual([]);
    expect(this.decision.outcome).toBe('accepted');
    expect(this.decision.events).toHaveLength(1);
    if (type !== undefined) expect(this.decision.events[0]?.type).toBe(type);
    return this.thenEventsMatchTheirSchemas();
  }

  /** Asserts a rejection with exactly these reason codes, in this order. */
  thenRejected(...codes: ReasonCode[]): this {
    expect(this.decision.reasons.map((r) => r.code)).toEqual(codes);
    expect(this.decision.outcome).toBe('rejected');
    expect(this.decision.events).toHaveLength(1);
    expect(this.decision.events[0]?.type).toMatch(/^mission\.(dispatch|callback|cancel)_rejected$/);
    // The log keeps {code, message}; a schema rejection's issues are for the answer only.
    expect((this.decision.events[0]?.data as { reasons: Reason[] }).reasons).toEqual(
      this.decision.reasons.map(({ code, message }) => ({ code, message })),
    );
    for (const r of this.decision.reasons) {
      if (r.code !== 'SCHEMA_INVALID') {
        expect(r).not.toHaveProperty('issues');
        continue;
      }
      expect(r.issues?.length ?? 0, 'SCHEMA_INVALID lists its issues').toBeGreaterThan(0);
      for (const issue of r.issues ?? [])
        expect(r.message).toContain(`${issue.path}: ${issue.message}`);
    }
    return this.thenEventsMatchTheirSchemas();
  }

  /** Asserts the exact events. */
  thenEvents(expected: MissionEvent[]): this {
    expect(this.decision.events).toEqual(expected);
    return this;
  }

  /** The reason with `code`; fails when there is none. */
  thenReason(code: ReasonCode): Reason {
    const found = this.decision.reasons.find((r) => r.code === code);
    expect(found, `no ${code} among ${JSON.stringify(this.decision.reasons)}`).toBeDefined();
    return found!;
  }

  /** The fold of the given events followed by the decided ones. */
  thenState(): MissionState | undefined {
    return foldMission([...this.given, ...this.decision.events]);
  }

  /** Every decided event's data parses with the schema of its type, unchanged. */
  thenEventsMatchTheirSchemas(): this {
    for (const event of this.decision.events) {
      const schema = missionEventDataSchemas[event.type];
      expect(schema.parse(event.data)).toEqual(event.data);
    }
    return this;
  }
}

/** Options of a callback in a scenario. */
export interface CallbackOptions {
  missionId?: string;
  principal?: Principal;
  received_at?: string;
  rules?: readonly CallbackRule[];
  /** Default: the development profile in development, no keys. */
  policy?: PolicyInForce;
  signature?: string;
}

/** Given a stream, when an input arrives, then an outcome: the decider in test form. */
export class Given {
  constructor(readonly events: readonly RecordedEvent[]) {}

  /** The fold of the given events. */
  get state(): MissionState | undefined {
    return foldMission(this.events);
  }

  /** When a dispatch arrives (from the operator, at RECEIVED_AT, unless told otherwise). */
  whenDispatch(
    payload: unknown,
    options: {
      principal?: Principal;
      received_at?: string;
      allocatedSessionId?: string;
      policy?: PolicyInForce;
      signature?: string;
    } = {},
  ): Then<DispatchDecision> {
    return new Then(
      this.events,
      decideDispatch(
        this.state,
        {
          payload,
          received_at: options.received_at ?? RECEIVED_AT,
          principal: options.principal ?? operator,
          allocatedSessionId: options.allocatedSessionId ?? ALLOCATED_SESSION,
          signature: options.signature,
        },
        options.policy ?? policyInForce(),
      ),
    );
  }

  /** When a callback arrives for MISSION_ID (from its factory, at RECEIVED_AT, unless told otherwise). */
  whenCallback(payload: unknown, options: CallbackOptions = {}): Then {
    return new Then(
      this.events,
      decideCallback(
        this.state,
        {
          missionId: options.missionId ?? MISSION_ID,
          payload,
          received_at: options.received_at ?? RECEIVED_AT,
          principal: options.principal ?? factory,
          signature: options.signature,
        },
        options.policy ?? policyInForce(),
        options.rules,
      ),
    );
  }

  /** When an operator asks to cancel the mission. */
  whenCancel(options: { reason?: string; requested_by?: string; received_at?: string } = {}): Then {
    return new Then(
      this.events,
      decideCancel(this.state, {
        reason: options.reason ?? 'Superseded by a newer mission.',
        requested_by: options.requested_by ?? operator.id,
        received_at: options.received_at ?? RECEIVED_AT,
      }),
    );
  }
}

/** Starts a scenario from the events already in the stream. */
export function given(events: readonly RecordedEvent[] = []): Given {
  return new Given(events);
}
