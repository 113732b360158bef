import { describe, expect, it } from 'vitest';
import {
  policyDecisionSchema,
  type PolicyDecision as StoredDecision,
} from '../../schemas/index.ts';
import { activatePolicy, type ActivePolicy } from '../../src/policy/active-policy.ts';
import { decide, type RuleFinding } from '../../src/policy/evaluate.ts';
import type { PolicyMode } from '../../src/policy/modes.ts';
import type { PolicyProfile } from '../../src/policy/profile.ts';
import { ruleIds, type RuleId } from '../../src/policy/rule-ids.ts';
import { shippedProfiles } from '../../src/policy/shipped-profiles.ts';

/** A policy in production where each named rule has the given mode, every other rule `off`. */
function policy(modes: Partial<Record<RuleId, PolicyMode>>, override: 'warn' | null = null) {
  const profile: PolicyProfile = structuredClone(shippedProfiles.development);
  for (const rule of ruleIds) {
    const mode = modes[rule] ?? 'off';
    profile.rules[rule] = { development: mode, staging: mode, production: mode };
  }
  return activatePolicy(profile, 'production', override);
}

const traceFinding: RuleFinding = {
  rule: 'trace',
  code: 'TRACE_MISMATCH',
  message: 'trace_id "t-2" differs from the dispatch\'s "t-1".',
};
const budgetFinding: RuleFinding = {
  rule: 'budget',
  code: 'BUDGET_EXCEEDED',
  message: 'usage.llm_calls 12 exceeds the budget of 10.',
};

/** The decision's findings as `rule:mode:effect`. */
const summary = (active: ActivePolicy, findings: RuleFinding[]) => {
  const decision = decide(active, findings);
  return {
    outcome: decision.outcome,
    findings: decision.findings.map((f) => `${f.rule}:${f.mode}:${f.effect}`),
  };
};

describe('decide: one finding in each mode', () => {
  it.each([
    ['off', null, 'accepted', []],
    ['shadow', null, 'accepted', ['trace:shadow:shadowed']],
    ['warn', null, 'accepted', ['trace:warn:warned']],
    ['enforce', null, 'rejected', ['trace:enforce:rejected']],
    ['off', 'warn', 'accepted', []],
    ['shadow', 'warn', 'accepted', ['trace:shadow:shadowed']],
    ['warn', 'warn', 'accepted', ['trace:warn:warned']],
    ['enforce', 'warn', 'accepted', ['trace:warn:warned']],
  ] as const)('%s with override %s: %s, %j', (mode, override, outcome, findings) => {
    expect(summary(policy({ trace: mode }, override), [traceFinding])).toEqual({
      outcome,
      findings,
    });
  });

  it('records the profile, environment, override and the finding as the rule gave it', () => {
    const active = policy({ trace: 'warn' });
    expect(decide(active, [traceFinding])).toEqual({
      profile: { id: 'development', digest: active.digest },
      environment: 'production',
      override: null,
      outcome: 'accepted',
      findings: [{ ...traceFinding, mode: 'warn', effect: 'warned' }],
    });
  });

  it('accepts an input no rule found fault with, whatever the modes', () => {
    const all = policy(Object.fromEntries(ruleIds.map((rule) => [rule, 'enforce'])));
    expect(decide(all, [])).toMatchObject({ outcome: 'accepted', findings: [] });
  });
});

describe('decide: two findings in every pair of modes', () => {
  const modes: PolicyMode[] = ['off', 'shadow', 'warn', 'enforce'];
  const effect = { shadow: 'shadowed', warn: 'warned', enforce: 'rejected' } as const;
  const pairs = modes.flatMap((trace) => modes.map((budget) => [trace, budget] as const));

  it.each(pairs)('trace %s, budget %s', (trace, budget) => {
    const result = summary(policy({ trace, budget }), [budgetFinding, traceFinding]);
    const expected = [
      ...(trace === 'off' ? [] : [`trace:${trace}:${effect[trace]}`]),
      ...(budget === 'off' ? [] : [`budget:${budget}:${effect[budget]}`]),
    ];
    expect(result.findings).toEqual(expected);
    expect(result.outcome).toBe(
      trace === 'enforce' || budget === 'enforce' ? 'rejected' : 'accepted',
    );
  });
});

describe('decide: order and programming errors', () => {
  it('lists findings in rule order, then in the order each rule gave them', () => {
    const active = policy({ identity: 'enforce', signature: 'shadow', staleness: 'warn' });
    const findings: RuleFinding[] = [
      { rule: 'staleness', code: 'INPUT_STALE', message: 'emitted_at is 2 hours old.' },
      { rule: 'signature', code: 'KEY_REVOKED', message: 'key k1 was revoked.' },
      { rule: 'identity', code: 'IDENTITY_MISMATCH', message: 'vp_id differs.' },
      { rule: 'signature', code: 'SIGNATURE_INVALID', message: 'does not verify.' },
    ];
    expect(decide(active, findings).findings.map((f) => f.code)).toEqual([
      'IDENTITY_MISMATCH',
      'KEY_REVOKED',
      'SIGNATURE_INVALID',
      'INPUT_STALE',
    ]);
  });

  it('throws on a code its rule may not give, even when the rule is off', () => {
    const wrong: RuleFinding = { rule: 'budget', code: 'TRACE_MISMATCH', message: 'x' };
    expect(() => decide(policy({ budget: 'enforce' }), [wrong])).toThrow(
      /budget may not give TRACE_MISMATCH/,
    );
    expect(() => decide(policy({}), [wrong])).toThrow(/budget may not give TRACE_MISMATCH/);
  });
});

describe('the stored decision (schemas/policy-decision.ts)', () => {
  const active = policy({ trace: 'enforce', budget: 'shadow' });
  const decision = decide(active, [traceFinding, budgetFinding]);

  it('holds every decision decide() makes', () => {
    const stored: StoredDecision = decision;
    expect(policyDecisionSchema.parse(stored)).toEqual(decision);
  });

  it('refuses an edited outcome, an effect that does not follow from the mode, an extra field', () => {
    const edited = { ...decision, outcome: 'accepted' };
    expect(policyDecisionSchema.safeParse(edited).error?.issues.map((i) => i.path)).toEqual([
      ['outcome'],
    ]);
    const [enforced, shadowed] = decision.findings;
    const laundered = { ...decision, findings: [enforced, { ...shadowed, effect: 'warned' }] };
    expect(policyDecisionSchema.safeParse(laundered).error?.issues.map((i) => i.path)).toEqual([
      ['findings', 1, 'effect'],
    ]);
    expect(policyDecisionSchema.safeParse({ ...decision, note: 'x' }).success).toBe(false);
  });
});
