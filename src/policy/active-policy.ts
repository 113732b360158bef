import { environments, type Environment, type PolicyMode } from '../../schemas/policy-decision.ts';
import { profileDigest, type PolicyProfile } from './profile.ts';
import { ruleIds, type RuleId } from './rule-ids.ts';

/**
 * The policy a serving process decides with: a profile, its digest, the environment whose column
 * of the profile applies, and the rollback override (`LEDGER_POLICY_MODE=warn`), if set.
 */
export interface ActivePolicy {
  readonly profile: PolicyProfile;
  /** {@link profileDigest} of `profile`, computed once. */
  readonly digest: string;
  readonly environment: Environment;
  /** `warn` turns every `enforce` into `warn`; `null` leaves the profile's modes as they are. */
  readonly override: 'warn' | null;
}

/** The active policy for `profile` in `environment`, with the rollback override or none. */
export function activatePolicy(
  profile: PolicyProfile,
  environment: Environment,
  override: 'warn' | null,
): ActivePolicy {
  return { profile, digest: profileDigest(profile), environment, override };
}

/**
 * The mode `rule` runs in: the profile's for the environment, with `enforce` lowered to `warn`
 * by the override.
 */
export function effectiveMode(active: ActivePolicy, rule: RuleId): PolicyMode {
  const mode = active.profile.rules[rule][active.environment];
  return mode === 'enforce' && active.override === 'warn' ? 'warn' : mode;
}

/**
 * The profile as a plain-text table, rule x environment, for the `ledger serve` banner and
 * `ledger policy show`. The environment in force is marked `*`; the last column is the mode each
 * rule actually runs in, after the override.
 *
 * ```text
 * policy profile control-plane-strict-v1 (sha256 3f0c…)
 * environment production, override none
 * rule              development  staging  production*  effective
 * identity          enforce      enforce  enforce      enforce
 * ```
 */
export function policyMatrix(active: ActivePolicy): string {
  const header = [
    'rule',
    ...environments.map((env) => (env === active.environment ? `${env}*` : env)),
    'effective',
  ];
  const rows = ruleIds.map((rule) => [
    rule,
    ...environments.map((env) => active.profile.rules[rule][env]),
    effectiveMode(active, rule),
  ]);
  const table = [header, ...rows];
  const widths = header.map((_, column) =>
    Math.max(...table.map((row) => (row[column] ?? '').length)),
  );
  const lines = table.map((row) =>
    row
      .map((cell, column) => cell.padEnd(widths[column] ?? 0))
      .join('  ')
      .trimEnd(),
  );
  const override =
    active.override === 'warn' ? 'warn (LEDGER_POLICY_MODE=warn: enforce runs as warn)' : 'none';
  return [
    `policy profile ${active.profile.id} (sha256 ${active.digest})`,
    `environment ${active.environment}, override ${override}`,
    ...lines,
  ].join('\n');
}
