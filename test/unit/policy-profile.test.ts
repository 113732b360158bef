import { createHash } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { isLedgerError } from '../../src/errors.ts';
import { environments, type Environment, type PolicyMode } from '../../src/policy/modes.ts';
import { parseProfile, profileDigest, type PolicyProfile } from '../../src/policy/profile.ts';
import { isContractRule, ruleCodes, ruleIds, type RuleId } from '../../src/policy/rule-ids.ts';
import { defaultProfileId, shippedProfiles } from '../../src/policy/shipped-profiles.ts';
import { errorCodes } from '../../src/errors.ts';

const copy = (): PolicyProfile => structuredClone(shippedProfiles.development);

/** The same JSON with every object's keys in reverse order. */
function reversedKeys(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(reversedKeys);
  if (value === null || typeof value !== 'object') return value;
  return Object.fromEntries(
    Object.entries(value)
      .reverse()
      .map(([k, v]) => [k, reversedKeys(v)]),
  );
}

describe('rule ids', () => {
  it('evaluates the contract rules first, then the governance rules', () => {
    expect(ruleIds).toEqual([
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
    ]);
    expect(ruleIds.filter(isContractRule)).toEqual(ruleIds.slice(0, 6));
  });

  it('gives each reason code to one rule only, every code one of the error namespace', () => {
    const codes = ruleIds.flatMap((rule) => ruleCodes[rule]);
    expect(new Set(codes).size).toBe(codes.length);
    for (const code of codes) expect(errorCodes).toHaveProperty(code);
    expect(ruleCodes.signature).toEqual([
      'SIGNATURE_MISSING',
      'SIGNATURE_INVALID',
      'KEY_UNKNOWN',
      'KEY_NOT_VALID_AT',
      'KEY_REVOKED',
    ]);
  });
});

describe('profileDigest', () => {
  it('is the lowercase hex SHA-256 of the RFC 8785 form, whatever the key order', () => {
    const profile = copy();
    // For strings, safe integers and objects, RFC 8785 is JSON.stringify with keys sorted.
    const sorted = (value: unknown): unknown =>
      value === null || typeof value !== 'object'
        ? value
        : Object.fromEntries(
            Object.entries(value)
              .sort(([a], [b]) => (a < b ? -1 : 1))
              .map(([k, v]) => [k, sorted(v)]),
          );
    const expected = createHash('sha256')
      .update(JSON.stringify(sorted(profile)))
      .digest('hex');
    expect(profileDigest(profile)).toBe(expected);
    expect(profileDigest(parseProfile(reversedKeys(profile)))).toBe(expected);
    expect(profileDigest(parseProfile(JSON.parse(JSON.stringify(profile, null, 4))))).toBe(
      expected,
    );
  });

  it('changes when one mode of one rule in one environment changes', () => {
    const before = profileDigest(copy());
    const changed = copy();
    changed.rules.staleness.production = 'enforce';
    expect(profileDigest(changed)).not.toBe(before);
    const reverted = copy();
    expect(profileDigest(reverted)).toBe(before);
  });

  it('differs between the shipped profiles', () => {
    const [strict, dev] = [shippedProfiles['control-plane-strict-v1'], shippedProfiles.development];
    expect(profileDigest(strict)).not.toBe(profileDigest(dev));
  });
});

describe('parseProfile', () => {
  const problem = (json: unknown): string => {
    try {
      parseProfile(json);
    } catch (error) {
      if (isLedgerError(error, 'CONFIGURATION_INVALID')) return error.message;
      throw error;
    }
    throw new Error('expected the profile to be refused');
  };
  const edited = (edit: (json: Record<string, unknown>) => void): unknown => {
    const json = structuredClone(copy()) as unknown as Record<string, unknown>;
    edit(json);
    return json;
  };
  const rulesOf = (json: Record<string, unknown>) => json.rules as Record<string, unknown>;

  it('returns a valid profile as it is', () => {
    expect(parseProfile(copy())).toEqual(copy());
  });

  it.each([
    ['not an object', () => [], 'Policy profile: the document must be a JSON object.'],
    [
      'an unknown field',
      () => edited((j) => (j.owner = 'ops')),
      'Policy profile: the document has an unknown field owner.',
    ],
    [
      'an unknown rule id',
      () => edited((j) => (rulesOf(j).signatures = rulesOf(j).signature)),
      'Policy profile: rules has an unknown rule signatures.',
    ],
    [
      'a missing rule',
      () => edited((j) => delete rulesOf(j).budget),
      'Policy profile: rules.budget is missing.',
    ],
    [
      'a missing environment',
      () => edited((j) => (rulesOf(j).trace = { development: 'warn', staging: 'warn' })),
      'Policy profile: rules.trace.production is missing.',
    ],
    [
      'an unknown environment',
      () =>
        edited(
          (j) =>
            (rulesOf(j).trace = {
              development: 'warn',
              staging: 'warn',
              production: 'warn',
              qa: 'warn',
            }),
        ),
      'Policy profile: rules.trace has an unknown field qa.',
    ],
    [
      'an unknown mode',
      () =>
        edited(
          (j) => (rulesOf(j).trace = { development: 'block', staging: 'warn', production: 'warn' }),
        ),
      'Policy profile: rules.trace.development must be one of off, shadow, warn, enforce.',
    ],
    [
      'an upper-case id',
      () => edited((j) => (j.id = 'Strict')),
      'Policy profile: id must be 1 to 64 characters of a-z 0-9 . -, starting with a letter or digit.',
    ],
    [
      'a 65-character id',
      () => edited((j) => (j.id = 'a'.repeat(65))),
      'Policy profile: id must be 1 to 64 characters of a-z 0-9 . -, starting with a letter or digit.',
    ],
    [
      'a zero max_input_age_seconds',
      () => edited((j) => (j.settings = { max_input_age_seconds: 0 })),
      'Policy profile: settings.max_input_age_seconds must be a positive number of seconds.',
    ],
    [
      'a fractional max_input_age_seconds',
      () => edited((j) => (j.settings = { max_input_age_seconds: 1.5 })),
      'Policy profile: settings.max_input_age_seconds must be a whole number of seconds.',
    ],
    [
      'a missing description',
      () => edited((j) => delete j.description),
      'Policy profile: description is missing.',
    ],
  ])('refuses %s with CONFIGURATION_INVALID naming it', (_name, json, message) => {
    expect(problem(json())).toBe(message);
  });

  it('accepts a 64-character id with dots and dashes', () => {
    const id = `team.ops-${'x'.repeat(55)}`;
    expect(parseProfile(edited((j) => (j.id = id))).id).toBe(id);
  });
});

describe('shipped profiles (issue 16)', () => {
  const governanceInStrict = (env: Environment): PolicyMode =>
    env === 'production' ? 'enforce' : 'warn';
  const governanceInDevelopment = (rule: RuleId, env: Environment): PolicyMode =>
    env === 'development' && (rule === 'signature' || rule === 'staleness') ? 'off' : 'warn';

  it.each(Object.values(shippedProfiles))('$id parses as a profile, unchanged', (profile) => {
    expect(parseProfile(profile)).toEqual(profile);
  });

  it('are keyed by their own id', () => {
    for (const [id, profile] of Object.entries(shippedProfiles)) expect(profile.id).toBe(id);
  });

  it.each(ruleIds)('%s: control-plane-strict-v1 and development as the issue states', (rule) => {
    for (const env of environments) {
      expect(shippedProfiles['control-plane-strict-v1'].rules[rule][env], env).toBe(
        isContractRule(rule) ? 'enforce' : governanceInStrict(env),
      );
      expect(shippedProfiles.development.rules[rule][env], env).toBe(
        isContractRule(rule) ? 'enforce' : governanceInDevelopment(rule, env),
      );
    }
  });

  it('allow inputs 5 minutes (strict) or a day (development) from their receive time', () => {
    expect(shippedProfiles['control-plane-strict-v1'].settings.max_input_age_seconds).toBe(300);
    expect(shippedProfiles.development.settings.max_input_age_seconds).toBe(86400);
  });

  it('default to control-plane-strict-v1 in production, development elsewhere', () => {
    expect(defaultProfileId('production')).toBe('control-plane-strict-v1');
    expect(defaultProfileId('staging')).toBe('development');
    expect(defaultProfileId('development')).toBe('development');
  });
});
