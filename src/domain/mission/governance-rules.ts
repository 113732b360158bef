import type { LifecycleEvent, MissionUsage } from '../../../schemas/index.ts';
import type { CallbackRule } from './callback-rule.ts';

/*
 * The governance rules of seed 001's policy plan: checks of a schema-valid callback against its
 * mission that a policy profile sets, per environment, to off, shadow, warn or enforce. Pure, like
 * the contract rules: times are the callback's own and the ledger's receive time.
 */

const quote = (value: string): string => JSON.stringify(value);

const budgeted: readonly [
  keyof MissionUsage,
  'max_runtime_minutes' | 'max_llm_calls' | 'max_cost_usd',
][] = [
  ['runtime_minutes', 'max_runtime_minutes'],
  ['llm_calls', 'max_llm_calls'],
  ['estimated_cost_usd', 'max_cost_usd'],
];

/** Reported usage stays within the dispatch's budget (equal is fine). */
export const budgetRule: CallbackRule = {
  code: 'BUDGET_EXCEEDED',
  rule: 'budget',
  check(state, callback) {
    const over = budgeted.filter(([used, max]) => callback.usage[used] > state.budget[max]);
    if (over.length === 0) return undefined;
    const details = over
      .map(([used, max]) => `${used} ${callback.usage[used]} > ${max} ${state.budget[max]}`)
      .join(', ');
    return `Usage exceeds the dispatch budget: ${details}.`;
  },
};

/** The callback was emitted inside the dispatch's autonomy window (both ends included). */
export const autonomyWindowRule: CallbackRule = {
  code: 'OUTSIDE_AUTONOMY_WINDOW',
  rule: 'autonomy_window',
  check(state, callback) {
    const { start_at, end_at } = state.dispatch.autonomy_window;
    const emitted = Date.parse(callback.emitted_at);
    if (emitted >= Date.parse(start_at) && emitted <= Date.parse(end_at)) return undefined;
    return `emitted_at ${quote(callback.emitted_at)} is outside the autonomy window ${quote(start_at)} to ${quote(end_at)}.`;
  },
};

/**
 * The outputs a completion provides: each artifact_index entry's `ref`, and its last path segment
 * (`s3://bucket/run-7/patch.diff` provides `patch.diff`).
 */
export function providedOutputs(callback: LifecycleEvent): Set<string> {
  const provided = new Set<string>();
  for (const { ref } of callback.artifact_index ?? []) {
    provided.add(ref);
    const segment = ref.split(/[/\\]/).at(-1);
    if (segment !== undefined && segment !== '') provided.add(segment);
  }
  return provided;
}

/** A completion lists every output the dispatch's artifact_policy requires. */
export const requiredOutputsRule: CallbackRule = {
  code: 'ARTIFACTS_MISSING',
  rule: 'required_outputs',
  check(state, callback) {
    if (callback.event_type !== 'mission.completed') return undefined;
    const provided = providedOutputs(callback);
    const missing = state.dispatch.artifact_policy.required_outputs.filter(
      (output) => !provided.has(output),
    );
    if (missing.length === 0) return undefined;
    return `mission.completed lacks required output${missing.length === 1 ? '' : 's'} ${missing.map(quote).join(', ')} in its artifact_index.`;
  },
};

/** How far apart two instants are, in whole seconds (rounded down). */
const secondsApart = (a: string, b: string): number =>
  Math.floor(Math.abs(Date.parse(a) - Date.parse(b)) / 1000);

/**
 * The message of a stale input: `at` (its emitted_at or created_at) is more than `maxSeconds`
 * from `receivedAt`, either way (a clock far ahead is as suspect as a replayed capture).
 */
export function staleness(
  field: string,
  at: string,
  receivedAt: string,
  maxSeconds: number,
): string | undefined {
  const apart = secondsApart(at, receivedAt);
  if (apart <= maxSeconds) return undefined;
  return `${field} ${quote(at)} is ${apart} s from the receive time ${quote(receivedAt)}; the profile allows ${maxSeconds} s.`;
}

/** The callback's emitted_at is close enough to its receive time. */
export const stalenessRule: CallbackRule = {
  code: 'INPUT_STALE',
  rule: 'staleness',
  check(_state, callback, { receivedAt, maxInputAgeSeconds }) {
    return staleness('emitted_at', callback.emitted_at, receivedAt, maxInputAgeSeconds);
  },
};
