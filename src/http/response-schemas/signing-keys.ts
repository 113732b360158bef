import { z } from 'zod';
import { count, dateTime, logPosition, nextCursor } from './fields.ts';

/** A signing key as `GET /v1/keys` and `GET /v1/keys/{key_id}` show it. */
export const signingKeyViewSchema = z
  .object({
    key_id: z.string(),
    owner: z.string().meta({ description: 'The instance id whose inputs the key signs.' }),
    public_key: z.string().meta({ description: 'Ed25519 public key, base64url (a JWK `x`).' }),
    not_before: dateTime,
    not_after: dateTime.nullable(),
    revoked_at: dateTime.nullable(),
    revocation_reason: z.string().nullable(),
    registered_at: dateTime,
    status: z.enum(['pending', 'active', 'expired', 'revoked']).meta({
      description:
        'At the time of the answer: pending before not_before, expired from not_after, revoked from revoked_at.',
    }),
    revision: count.meta({ description: 'Revision of its `key.registered` event in ledger-keys.' }),
  })
  .meta({ id: 'SigningKey', description: 'A registered Ed25519 signing key.' });
export type SigningKeyView = z.infer<typeof signingKeyViewSchema>;

/** `GET /v1/keys`: a page of keys in key id order. */
export const signingKeyListSchema = z
  .object({ keys: z.array(signingKeyViewSchema), next_cursor: nextCursor })
  .meta({ id: 'SigningKeyList', description: 'A page of signing keys, by key id.' });
export type SigningKeyList = z.infer<typeof signingKeyListSchema>;

/** The answer to an accepted (201) or replayed (200) key registration or revocation. */
export const keyCommandResultSchema = z
  .object({
    key_id: z.string(),
    revision: count.meta({ description: "The event's revision in the ledger-keys stream." }),
    position: logPosition.meta({ description: "The event's global position." }),
    duplicate: z
      .boolean()
      .meta({ description: 'True when a retry was answered with the original result.' }),
  })
  .meta({ id: 'KeyCommandResult', description: 'Where the key change was recorded.' });
export type KeyCommandResult = z.infer<typeof keyCommandResultSchema>;
