export type { CallbackContext, CallbackRule } from './callback-rule.ts';
import type { MissionUsage } from '../../../schemas/index.ts';
import type { CallbackRule } from './callback-rule.ts';
import {
  autonomyWindowRule,
  budgetRule,
  requiredOutputsRule,
  stalenessRule,
} from './governance-rules.ts';
import { allowedEventTypes, expectedStatuses, finalEventTypes } from './transitions.ts';

const quote = (value: string): string => JSON.stringify(value);

type IdentityField = 'mission_id' | 'vp_id' | 'vp_session_id' | 'vp_runtime_id';

/** A factory may only post for missions dispatched to its own instance. */
export const forbiddenInstanceRule: CallbackRule = {
  code: 'FORBIDDEN_INSTANCE',
  check(state, _callback, { principal }) {
    if (principal.role !== 'factory' || principal.id === state.target_instance_id) return undefined;
    return `Mission ${quote(state.mission_id)} is dispatched to instance ${quote(state.target_instance_id)}, not ${quote(principal.id)}.`;
  },
};

/** Nothing is accepted after a final event (seed 002 §4.4). */
export const missionClosedRule: CallbackRule = {
  code: 'MISSION_CLOSED',
  check(state) {
    if (state.final === null) return undefined;
    return `Mission ${quote(state.mission_id)} is closed: a final event with status ${quote(state.final.status)} was already accepted.`;
  },
};

/** The callback names the mission of the URL and the VP identity of the dispatch (§4.5). */
export const identityRule: CallbackRule = {
  code: 'IDENTITY_MISMATCH',
  rule: 'identity',
  check(state, callback, { missionId }) {
    const expected: [IdentityField, string, string][] = [
      [
        'mission_id',
        callback.mission_id,
        callback.mission_id === state.mission_id ? missionId : state.mission_id,
      ],
      ['vp_id', callback.vp_id, state.dispatch.vp_id],
      ['vp_session_id', callback.vp_session_id, state.vp_session_id],
      ['vp_runtime_id', callback.vp_runtime_id, state.dispatch.vp_runtime_id],
    ];
    const differing = expected.filter(([, actual, wanted]) => actual !== wanted);
    if (differing.length === 0) return undefined;
    const fields = differing.map(([field]) => field).join(', ');
    const details = differing
      .map(([field, actual, wanted]) => `${field} ${quote(actual)} (expected ${quote(wanted)})`)
      .join('; ');
    return `${fields} ${differing.length === 1 ? 'differs' : 'differ'} from the dispatch: ${details}.`;
  },
};

/** The callback carries the mission's trace id (seed 002 §6.1). */
export const traceRule: CallbackRule = {
  code: 'TRACE_MISMATCH',
  rule: 'trace',
  check(state, callback) {
    if (callback.trace_id === state.trace_id) return undefined;
    return `trace_id ${quote(callback.trace_id)} differs from the dispatch's ${quote(state.trace_id)}.`;
  },
};

/** The reported status is the one the event type implies ({@link expectedStatuses}). */
export const statusRule: CallbackRule = {
  code: 'STATUS_MISMATCH',
  rule: 'status',
  check(_state, callback) {
    const expected = expectedStatuses[callback.event_type];
    if (expected.includes(callback.status)) return undefined;
    return `${callback.event_type} must report status ${expected.map(quote).join(' or ')}, not ${quote(callback.status)}.`;
  },
};

/** The event type is allowed from the mission's status ({@link allowedEventTypes}). */
export const transitionRule: CallbackRule = {
  code: 'TRANSITION_ILLEGAL',
  rule: 'transition',
  check(state, callback) {
    // A closed mission is MISSION_CLOSED; saying the transition is illegal too would add nothing.
    if (state.final !== null) return undefined;
    const allowed = allowedEventTypes[state.status];
    if (allowed.includes(callback.event_type)) return undefined;
    return `${callback.event_type} is not allowed from status ${quote(state.status)}; allowed: ${allowed.join(', ')}.`;
  },
};

/** A final event carries an artifact index and a next-action recommendation (seed 002 §6.3). */
export const finalEventCompleteRule: CallbackRule = {
  code: 'FINAL_EVENT_INCOMPLETE',
  rule: 'final_event',
  check(_state, callback) {
    if (!finalEventTypes.includes(callback.event_type)) return undefined;
    const missing: string[] = [];
    if (callback.artifact_index === undefined) missing.push('artifact_index');
    if (callback.next_action === undefined || callback.next_action.trim() === '')
      missing.push('a non-empty next_action');
    if (missing.length === 0) return undefined;
    return `${callback.event_type} is a final event and lacks ${missing.join(' and ')}.`;
  },
};

const usageFields: readonly (keyof MissionUsage)[] = [
  'runtime_minutes',
  'llm_calls',
  'estimated_cost_usd',
];

/** Usage is cumulative: no field may be lower than already accepted (equal is fine). */
export const usageRule: CallbackRule = {
  code: 'USAGE_DECREASED',
  rule: 'usage_monotonic',
  check(state, callback) {
    const lower = usageFields.filter((field) => callback.usage[field] < state.usage[field]);
    if (lower.length === 0) return undefined;
    const details = lower
      .map((field) => `${field} ${callback.usage[field]} < ${state.usage[field]}`)
      .join(', ');
    return `Usage is lower than already reported: ${details}.`;
  },
};

/**
 * The callback rules in evaluation order: the structural checks, then the policy rules in the
 * order of `ruleIds` (src/policy/rule-ids.ts; the signature rule is checked by the decider, which
 * holds the key ring). Every rule the policy in force does not turn off runs, and every finding is
 * reported in this order; the HTTP layer answers with the status of the first reason.
 */
export const callbackRules: readonly CallbackRule[] = [
  forbiddenInstanceRule,
  missionClosedRule,
  identityRule,
  traceRule,
  statusRule,
  transitionRule,
  finalEventCompleteRule,
  usageRule,
  budgetRule,
  autonomyWindowRule,
  requiredOutputsRule,
  stalenessRule,
];
