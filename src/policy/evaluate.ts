import type { Environment } from '../../schemas/policy-decision.ts';
import type { ErrorCode } from '../errors.ts';
import { effectiveMode, type ActivePolicy } from './active-policy.ts';
import { ruleCodes, ruleIds, type RuleId } from './rule-ids.ts';

/** A rule that found a problem with an input, before any mode applies. */
export interface RuleFinding {
  rule: RuleId;
  /** One of `ruleCodes[rule]`. */
  code: ErrorCode;
  message: string;
}

/** A finding of a rule that is not `off`, with the mode it ran in and what it did. */
export interface DecisionFinding extends RuleFinding {
  mode: 'shadow' | 'warn' | 'enforce';
  effect: 'rejected' | 'warned' | 'shadowed';
}

/**
 * What is stored in the log with every decided input (`policyDecisionSchema` in schemas/): the
 * profile that decided, the environment and override, the outcome, and every finding.
 */
export interface PolicyDecision {
  profile: { id: string; digest: string };
  environment: Environment;
  override: 'warn' | null;
  outcome: 'accepted' | 'rejected';
  /** In rule order, then finding order; rules in mode `off` never appear. */
  findings: DecisionFinding[];
}

const effectOf = { enforce: 'rejected', warn: 'warned', shadow: 'shadowed' } as const;

/** False when `rule` is `off`, so its check (a signature verification, say) can be skipped. */
export function shouldEvaluate(active: ActivePolicy, rule: RuleId): boolean {
  return effectiveMode(active, rule) !== 'off';
}

/**
 * Applies the active policy's modes to the rules' findings: `enforce` rejects, `warn` accepts
 * and records a warning, `shadow` records what the rule would have done, `off` drops the finding.
 * Throws when a finding carries a code its rule may not give: that is a bug in the rule.
 */
export function decide(active: ActivePolicy, findings: readonly RuleFinding[]): PolicyDecision {
  for (const finding of findings) {
    if (!ruleCodes[finding.rule].includes(finding.code)) {
      throw new Error(
        `Policy rule ${finding.rule} may not give ${finding.code} (it gives ${ruleCodes[finding.rule].join(', ')}).`,
      );
    }
  }
  const decided: DecisionFinding[] = [];
  for (const rule of ruleIds) {
    const mode = effectiveMode(active, rule);
    if (mode === 'off') continue;
    for (const finding of findings) {
      if (finding.rule !== rule) continue;
      decided.push({
        rule,
        code: finding.code,
        message: finding.message,
        mode,
        effect: effectOf[mode],
      });
    }
  }
  return {
    profile: { id: active.profile.id, digest: active.digest },
    environment: active.environment,
    override: active.override,
    outcome: decided.some((finding) => finding.effect === 'rejected') ? 'rejected' : 'accepted',
    findings: decided,
  };
}
