import { z } from 'zod';

/**
 * How a policy rule acts in one environment: `off` (not evaluated), `shadow` (evaluated and
 * recorded, no effect), `warn` (accepted, recorded as a warning), `enforce` (rejected).
 */
export const policyModes = ['off', 'shadow', 'warn', 'enforce'] as const;
/** A mode of a policy rule in one environment. */
export type PolicyMode = (typeof policyModes)[number];

/** The environments a policy profile states a mode for, one per rule. */
export const environments = ['development', 'staging', 'production'] as const;
/** The environment a ledger serves in (`LEDGER_ENV`). */
export type Environment = (typeof environments)[number];

/** What a finding did to the input: one per mode that records findings (`off` records none). */
const effectOfMode = { enforce: 'rejected', warn: 'warned', shadow: 'shadowed' } as const;

/**
 * One rule that fired on an input, with the mode it ran in (after any override) and its effect.
 * `rule` and `code` take any id of their shape, so a stored decision of a rule added later still
 * validates under this schema.
 */
export const decisionFindingSchema = z
  .strictObject({
    rule: z
      .string()
      .regex(/^[a-z][a-z0-9_]*$/)
      .describe('The policy rule that fired, e.g. signature.'),
    code: z
      .string()
      .regex(/^[A-Z][A-Z0-9_]*$/)
      .describe('Stable reason code, e.g. SIGNATURE_MISSING.'),
    message: z.string().min(1).describe('Human-readable explanation.'),
    mode: z
      .enum(['shadow', 'warn', 'enforce'])
      .describe("The rule's effective mode: the profile's, with the override applied."),
    effect: z
      .enum(['rejected', 'warned', 'shadowed'])
      .describe('enforce rejects, warn accepts with a warning, shadow only records.'),
  })
  .refine((finding) => effectOfMode[finding.mode] === finding.effect, {
    message: 'effect must follow from mode (enforce: rejected, warn: warned, shadow: shadowed)',
    path: ['effect'],
  });
/** A rule that fired, as stored. */
export type PolicyDecisionFinding = z.infer<typeof decisionFindingSchema>;

/**
 * The policy's decision on one input, stored beside it in the log: which profile (id and the
 * SHA-256 of its RFC 8785 canonical form) decided, in which environment, under which override,
 * every rule that fired, and the outcome. The outcome is `rejected` exactly when a finding was
 * enforced, so a decision whose outcome was edited no longer validates.
 */
export const policyDecisionSchema = z
  .strictObject({
    profile: z
      .strictObject({
        id: z
          .string()
          .regex(/^[a-z0-9][a-z0-9.-]{0,63}$/)
          .describe('The policy profile id.'),
        digest: z
          .string()
          .regex(/^[0-9a-f]{64}$/)
          .describe("Lowercase hex SHA-256 of the profile's RFC 8785 canonical JSON."),
      })
      .describe('The profile that decided.'),
    environment: z.enum(environments).describe('The environment the ledger served in.'),
    override: z
      .literal('warn')
      .nullable()
      .describe('warn when LEDGER_POLICY_MODE=warn turned every enforce into warn, else null.'),
    outcome: z.enum(['accepted', 'rejected']).describe("The policy's outcome for the input."),
    findings: z
      .array(decisionFindingSchema)
      .describe("Every rule that fired, in rule order; rules in mode 'off' never appear."),
  })
  .refine(
    (decision) =>
      (decision.outcome === 'rejected') ===
      decision.findings.some((finding) => finding.effect === 'rejected'),
    {
      message: 'outcome must be rejected exactly when a finding was rejected',
      path: ['outcome'],
    },
  )
  .meta({
    title: 'PolicyDecision',
    description: 'The policy decision stored with every decided input.',
  });
/** A policy decision, as stored; src/policy/evaluate.ts makes them (with narrower types). */
export type PolicyDecision = z.infer<typeof policyDecisionSchema>;
