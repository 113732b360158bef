import { createHash } from 'node:crypto';
import canonicalizeModule from 'canonicalize';
import { z } from 'zod';
import { environments, policyModes } from '../../schemas/policy-decision.ts';
import { parseDocument } from './plain-issues.ts';
import { ruleIds, type RuleId } from './rule-ids.ts';

const modeSchema = z.enum(policyModes, {
  error: (issue) =>
    issue.input === undefined ? 'is missing' : `must be one of ${policyModes.join(', ')}`,
});

/** A rule's mode in each environment: all three stated, nothing else. */
const modeMatrixSchema = z.strictObject(
  {
    development: modeSchema,
    staging: modeSchema,
    production: modeSchema,
  },
  {
    error: (issue) => {
      if (issue.code !== 'invalid_type') return undefined;
      return issue.input === undefined
        ? 'is missing'
        : `must be an object with a mode for each of ${environments.join(', ')}`;
    },
  },
);

/**
 * A policy profile: per rule, a mode per environment, and the settings its rules read. Every rule
 * id appears exactly once; an unknown rule id or field is refused, so a typo cannot silently
 * leave a rule at some default.
 */
export const policyProfileSchema = z.strictObject({
  id: z
    .string()
    .regex(
      /^[a-z0-9][a-z0-9.-]{0,63}$/,
      'must be 1 to 64 characters of a-z 0-9 . -, starting with a letter or digit',
    ),
  description: z.string(),
  // An enum-keyed record is exhaustive in zod 4: each rule id is required, others refused.
  rules: z.record(z.enum(ruleIds), modeMatrixSchema),
  settings: z.strictObject({
    max_input_age_seconds: z
      .number()
      .int('must be a whole number of seconds')
      .positive('must be a positive number of seconds')
      .describe('How far emitted_at or created_at may lie from the receive time (staleness).'),
  }),
});

/** A parsed policy profile. */
export type PolicyProfile = z.infer<typeof policyProfileSchema>;

/** The modes of one rule, per environment. */
export type ModeMatrix = PolicyProfile['rules'][RuleId];

/*
 * RFC 8785 through the reference package by the RFC's authors. It ships CommonJS with an
 * ESM-style declaration file, so under NodeNext the default import is the function at run time
 * but a namespace to the type checker.
 */
const canonicalize = canonicalizeModule as unknown as (input: unknown) => string | undefined;

/**
 * The RFC 8785 canonical JSON of a profile: the bytes its digest and its signature cover, the
 * same whatever the key order or number spelling of the file it came from.
 */
export function canonicalProfile(profile: PolicyProfile): string {
  const text = canonicalize(profile);
  if (text === undefined) throw new TypeError('a policy profile always has a JSON form');
  return text;
}

/** Lowercase hex SHA-256 of the profile's canonical JSON: what a decision records it by. */
export function profileDigest(profile: PolicyProfile): string {
  return createHash('sha256').update(canonicalProfile(profile), 'utf8').digest('hex');
}

/**
 * Parses a profile document (JSON already read). Throws `CONFIGURATION_INVALID` with one plain
 * sentence naming the first problem, e.g. `Policy profile: rules.budget.staging must be one of
 * off, shadow, warn, enforce.`
 */
export function parseProfile(json: unknown): PolicyProfile {
  return parseDocument('Policy profile', policyProfileSchema, json);
}
