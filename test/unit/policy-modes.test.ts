import { describe, expect, it } from 'vitest';
import {
  activatePolicy,
  effectiveMode,
  policyMatrix,
  type ActivePolicy,
} from '../../src/policy/active-policy.ts';
import { shouldEvaluate } from '../../src/policy/evaluate.ts';
import { environments, policyModes, type PolicyMode } from '../../src/policy/modes.ts';
import type { PolicyProfile } from '../../src/policy/profile.ts';
import { ruleIds, type RuleId } from '../../src/policy/rule-ids.ts';
import { shippedProfiles } from '../../src/policy/shipped-profiles.ts';

/** The development profile with `rule` set to `mode` in every environment. */
function withMode(rule: RuleId, mode: PolicyMode): PolicyProfile {
  const profile: PolicyProfile = structuredClone(shippedProfiles.development);
  profile.rules[rule] = { development: mode, staging: mode, production: mode };
  return profile;
}

describe('modes and environments', () => {
  it('lists the four modes from least to most effect, and the three environments', () => {
    expect(policyModes).toEqual(['off', 'shadow', 'warn', 'enforce']);
    expect(environments).toEqual(['development', 'staging', 'production']);
  });
});

describe('effectiveMode', () => {
  it("takes the profile's mode for the active environment's column", () => {
    const strict = shippedProfiles['control-plane-strict-v1'];
    expect(effectiveMode(activatePolicy(strict, 'production', null), 'budget')).toBe('enforce');
    expect(effectiveMode(activatePolicy(strict, 'staging', null), 'budget')).toBe('warn');
    const dev = shippedProfiles.development;
    expect(effectiveMode(activatePolicy(dev, 'development', null), 'signature')).toBe('off');
    expect(effectiveMode(activatePolicy(dev, 'staging', null), 'signature')).toBe('warn');
  });

  it.each([
    ['off', null, 'off'],
    ['shadow', null, 'shadow'],
    ['warn', null, 'warn'],
    ['enforce', null, 'enforce'],
    ['off', 'warn', 'off'],
    ['shadow', 'warn', 'shadow'],
    ['warn', 'warn', 'warn'],
    ['enforce', 'warn', 'warn'],
  ] as const)('profile mode %s with override %s runs as %s', (mode, override, expected) => {
    const active = activatePolicy(withMode('trace', mode), 'production', override);
    expect(effectiveMode(active, 'trace')).toBe(expected);
    expect(shouldEvaluate(active, 'trace')).toBe(expected !== 'off');
  });

  it('the override turns every enforced rule of the strict profile into warn, and nothing else', () => {
    const strict = shippedProfiles['control-plane-strict-v1'];
    const rolledBack = activatePolicy(strict, 'production', 'warn');
    expect(ruleIds.map((rule) => effectiveMode(rolledBack, rule))).toEqual(
      ruleIds.map(() => 'warn'),
    );
    const dev = activatePolicy(shippedProfiles.development, 'development', 'warn');
    expect(effectiveMode(dev, 'signature')).toBe('off');
    expect(effectiveMode(dev, 'identity')).toBe('warn');
  });
});

describe('policyMatrix', () => {
  const rows = (active: ActivePolicy) =>
    policyMatrix(active)
      .split('\n')
      .map((line) => line.split(/ {2,}/));

  it('names the profile and its digest, marks the environment in force, one row per rule', () => {
    const active = activatePolicy(shippedProfiles['control-plane-strict-v1'], 'staging', null);
    const [title, environment, header, ...body] = rows(active);
    expect(title).toEqual([`policy profile control-plane-strict-v1 (sha256 ${active.digest})`]);
    expect(environment).toEqual(['environment staging, override none']);
    expect(header).toEqual(['rule', 'development', 'staging*', 'production', 'effective']);
    expect(body.map((row) => row[0])).toEqual([...ruleIds]);
    expect(body.find((row) => row[0] === 'signature')).toEqual([
      'signature',
      'warn',
      'warn',
      'enforce',
      'warn',
    ]);
  });

  it('shows the override and the modes it lowers in the effective column', () => {
    const active = activatePolicy(shippedProfiles['control-plane-strict-v1'], 'production', 'warn');
    const [, environment, header, ...body] = rows(active);
    expect(environment?.[0]).toMatch(/^environment production, override warn /);
    expect(header).toEqual(['rule', 'development', 'staging', 'production*', 'effective']);
    expect(body.find((row) => row[0] === 'identity')).toEqual([
      'identity',
      'enforce',
      'enforce',
      'enforce',
      'warn',
    ]);
  });
});
