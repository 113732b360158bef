import type { ErrorCode } from '../errors.ts';

/**
 * Every policy rule, in evaluation order: the seed-002 contract rules first, then the governance
 * rules. A decision lists its findings in this order.
 */
export const ruleIds = [
  'identity',
  'trace',
  'status',
  'transition',
  'final_event',
  'usage_monotonic',
  'signature',
  'budget',
  'autonomy_window',
  'required_outputs',
  'staleness',
] as const;

/** A policy rule id. */
export type RuleId = (typeof ruleIds)[number];

/** The contract rules: every shipped profile enforces them in every environment. */
const contractRules: ReadonlySet<RuleId> = new Set<RuleId>([
  'identity',
  'trace',
  'status',
  'transition',
  'final_event',
  'usage_monotonic',
]);

/**
 * The reason codes each rule may give (each listed with its message in src/errors.ts and
 * docs/errors.md). A finding with any other code is a programming error.
 */
export const ruleCodes: Readonly<Record<RuleId, readonly ErrorCode[]>> = {
  identity: ['IDENTITY_MISMATCH'],
  trace: ['TRACE_MISMATCH'],
  status: ['STATUS_MISMATCH'],
  transition: ['TRANSITION_ILLEGAL'],
  final_event: ['FINAL_EVENT_INCOMPLETE'],
  usage_monotonic: ['USAGE_DECREASED'],
  signature: [
    'SIGNATURE_MISSING',
    'SIGNATURE_INVALID',
    'KEY_UNKNOWN',
    'KEY_NOT_VALID_AT',
    'KEY_REVOKED',
  ],
  budget: ['BUDGET_EXCEEDED'],
  autonomy_window: ['OUTSIDE_AUTONOMY_WINDOW'],
  required_outputs: ['ARTIFACTS_MISSING'],
  staleness: ['INPUT_STALE'],
};

/** True for the seed-002 contract rules, false for the governance rules. */
export function isContractRule(rule: RuleId): boolean {
  return contractRules.has(rule);
}
