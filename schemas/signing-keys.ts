import { z } from 'zod';
import { isoDateTime } from './primitives.ts';
import { principalSchema, rejectionReasonSchema } from './mission-events.ts';

/**
 * A signing key id: it names the key in every signature's protected header (`kid`) and appears in
 * paths, so it is 1 to 128 characters of letters, digits and `. _ : -`.
 */
export const keyId = z
  .string()
  .regex(/^[A-Za-z0-9._:-]{1,128}$/, 'must be 1 to 128 characters of A-Z a-z 0-9 . _ : -');

/**
 * An Ed25519 public key as a JWK's `x` (RFC 8037): the unpadded base64url of its 32 raw bytes.
 * Whether it is a valid curve point is checked by the key registry's decider (node:crypto).
 */
export const ed25519PublicKey = z
  .string()
  .regex(/^[A-Za-z0-9_-]{43}$/, 'must be the unpadded base64url of a 32-byte Ed25519 public key');

/** The body of `POST /v1/keys`: a key to register. */
export const keyRegistrationBodySchema = z
  .strictObject({
    key_id: keyId.describe('The id signatures name in their protected header (`kid`).'),
    owner: z
      .string()
      .min(1)
      .max(512)
      .describe('The instance id of the sender whose inputs the key signs.'),
    public_key: ed25519PublicKey.describe(
      'The Ed25519 public key: base64url of its 32 raw bytes (a JWK `x`).',
    ),
    not_before: isoDateTime
      .optional()
      .describe('Start of the validity window; default: the time of registration.'),
    not_after: isoDateTime
      .optional()
      .describe('End of the validity window (exclusive); default: none.'),
  })
  .meta({ id: 'KeyRegistration', description: 'An Ed25519 signing key to register.' });
/** The body of `POST /v1/keys`. */
export type KeyRegistrationBody = z.infer<typeof keyRegistrationBodySchema>;

/** The body of `POST /v1/keys/{key_id}/revoke`. */
export const keyRevocationBodySchema = z
  .strictObject({ reason: z.string().min(1).max(2000).describe('Why the key is revoked.') })
  .meta({ id: 'KeyRevocation', description: 'Why a signing key is revoked.' });
/** The body of `POST /v1/keys/{key_id}/revoke`. */
export type KeyRevocationBody = z.infer<typeof keyRevocationBodySchema>;

const reasons = z.array(rejectionReasonSchema).min(1).describe('Every reason, in rule order.');
const receivedAt = isoDateTime.describe('When the ledger received the input, ISO-8601.');

/** Data of `key.registered`: a signing key joined the registry (stream `ledger-keys`). */
export const keyRegisteredDataSchema = z
  .strictObject({
    key_id: keyId,
    owner: z.string().min(1).max(512),
    public_key: ed25519PublicKey,
    not_before: isoDateTime
      .nullable()
      .describe('Start of the validity window; null: from `registered_at`.'),
    not_after: isoDateTime
      .nullable()
      .describe('End of the validity window (exclusive); null: none.'),
    registered_at: receivedAt,
    principal: principalSchema,
  })
  .meta({ title: 'key.registered', description: 'A signing key was registered.' });
/** Data of `key.registered`. */
export type KeyRegisteredData = z.infer<typeof keyRegisteredDataSchema>;

/** Data of `key.revoked`: a signing key stops verifying inputs received from `revoked_at` on. */
export const keyRevokedDataSchema = z
  .strictObject({
    key_id: keyId,
    revoked_at: receivedAt,
    reason: z.string().min(1).max(2000),
    principal: principalSchema,
  })
  .meta({ title: 'key.revoked', description: 'A signing key was revoked.' });
/** Data of `key.revoked`. */
export type KeyRevokedData = z.infer<typeof keyRevokedDataSchema>;

/** Data of `key.registration_rejected`: a registration as received and why it was refused. */
export const keyRegistrationRejectedDataSchema = z
  .strictObject({
    input: z.unknown().describe('The registration as received (normalised when it parses).'),
    reasons,
    received_at: receivedAt,
    principal: principalSchema,
  })
  .meta({ title: 'key.registration_rejected', description: 'A key registration was refused.' });
/** Data of `key.registration_rejected`. */
export type KeyRegistrationRejectedData = z.infer<typeof keyRegistrationRejectedDataSchema>;

/** Data of `key.revocation_rejected`: a revocation as received and why it was refused. */
export const keyRevocationRejectedDataSchema = z
  .strictObject({
    input: z.unknown().describe('`{key_id, body}`: the path key id and the body as received.'),
    reasons,
    received_at: receivedAt,
    principal: principalSchema,
  })
  .meta({ title: 'key.revocation_rejected', description: 'A key revocation was refused.' });
/** Data of `key.revocation_rejected`. */
export type KeyRevocationRejectedData = z.infer<typeof keyRevocationRejectedDataSchema>;

/** The data schema of every event type of the `ledger-keys` stream. */
export const keyEventDataSchemas = {
  'key.registered': keyRegisteredDataSchema,
  'key.revoked': keyRevokedDataSchema,
  'key.registration_rejected': keyRegistrationRejectedDataSchema,
  'key.revocation_rejected': keyRevocationRejectedDataSchema,
} as const;
