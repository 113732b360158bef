import { z } from 'zod';
import { principalSchema } from './mission-events.ts';
import { environments } from './policy-decision.ts';
import { isoDateTime } from './primitives.ts';

/**
 * Data of `policy.activated` (stream `ledger-policy`): a serving process started with a profile,
 * or an operator switched it. The profile is recorded whole, so a replay can decide again under
 * exactly the profile that decided then; its digest is the SHA-256 of its RFC 8785 canonical JSON
 * (the one every decision names).
 */
export const policyActivatedDataSchema = z
  .strictObject({
    profile: z
      .record(z.string(), z.json())
      .describe('The profile document as activated (see docs/policy.md for its shape).'),
    digest: z
      .string()
      .regex(/^[0-9a-f]{64}$/)
      .describe("Lowercase hex SHA-256 of the profile's RFC 8785 canonical JSON."),
    environment: z.enum(environments).describe('The environment the process serves.'),
    override: z
      .literal('warn')
      .nullable()
      .describe('warn when LEDGER_POLICY_MODE=warn turns every enforce into warn.'),
    source: z
      .enum(['start', 'operator'])
      .describe('start: a serving process started with it; operator: switched over the API.'),
    signed_by: z
      .string()
      .min(1)
      .nullable()
      .describe('The trusted key id that signed a profile file; null for a shipped profile.'),
    principal: principalSchema.nullable().describe('The operator who switched; null at start.'),
    activated_at: isoDateTime.describe('When, ISO-8601.'),
  })
  .meta({ title: 'policy.activated', description: 'A policy profile came into force.' });
/** Data of `policy.activated`. */
export type PolicyActivatedData = z.infer<typeof policyActivatedDataSchema>;

/** A detached signature of a profile document: the trusted key that made it, and the signature. */
export const profileSignatureSchema = z
  .strictObject({
    key_id: z.string().min(1).max(256).describe('The trusted key that signed the profile.'),
    signature: z
      .string()
      // An Ed25519 signature is 64 bytes: 86 base64url characters, unpadded.
      .regex(/^[A-Za-z0-9_-]{86}$/, 'must be an unpadded base64url Ed25519 signature')
      .describe("Base64url Ed25519 signature of the profile's RFC 8785 canonical JSON."),
  })
  .meta({ id: 'ProfileSignature', description: 'A detached signature of a policy profile.' });

/**
 * `POST /v1/policy/activations`: an operator switches the policy in force, to a shipped profile
 * (`profile_id`) or a profile document (`profile`, signed where the environment requires it), with
 * or without the rollback toggle.
 */
export const policyActivationRequestSchema = z
  .strictObject({
    profile_id: z.string().min(1).max(64).optional().describe('A shipped profile id.'),
    profile: z
      .record(z.string(), z.json())
      .optional()
      .describe('A profile document (see docs/policy.md).'),
    signature: profileSignatureSchema.optional(),
    override: z
      .literal('warn')
      .nullable()
      .optional()
      .describe('warn: every enforce becomes warn (the rollback toggle); absent or null: none.'),
  })
  .refine((body) => (body.profile_id === undefined) !== (body.profile === undefined), {
    message: 'give exactly one of profile_id and profile',
    path: ['profile_id'],
  })
  .meta({ id: 'PolicyActivationRequest', description: 'Switch the policy in force.' });
/** A parsed activation request. */
export type PolicyActivationRequest = z.infer<typeof policyActivationRequestSchema>;
/** A parsed profile signature. */
export type ProfileSignature = z.infer<typeof profileSignatureSchema>;
