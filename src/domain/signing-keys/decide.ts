import { createPublicKey } from 'node:crypto';
import {
  keyRegistrationBodySchema,
  keyRevocationBodySchema,
  type KeyRegistrationBody,
  type Principal,
} from '../../../schemas/index.ts';
import type { CommandMetadata, ContractIssue, Decision, Reason } from '../decider.ts';
import { storableInput } from '../mission/input-text.ts';
import { storedReasons } from '../mission/reasons.ts';
import { isEd25519Point } from './ed25519-point.ts';
import type { KeyEvent } from './events.ts';
import type { KeyRegistryState, RegisteredKey } from './state.ts';

/** `POST /v1/keys`: an operator registers a signing key (or rotates: a new key, overlapping). */
export interface RegisterKey {
  type: 'registerKey';
  /** The body as received. */
  data: { body: unknown };
  metadata: CommandMetadata;
}

/** `POST /v1/keys/{key_id}/revoke`: an operator revokes a key from now on. */
export interface RevokeKey {
  type: 'revokeKey';
  /** The path's key id and the body as received. */
  data: { key_id: string; body: unknown };
  metadata: CommandMetadata;
}

/** Every command the key registry takes. */
export type KeyCommand = RegisterKey | RevokeKey;

const quote = (value: string) => JSON.stringify(value);

/** The input a registration is recorded and deduplicated by: normalised when it parses. */
export function registrationInput(body: unknown): unknown {
  const parsed = keyRegistrationBodySchema.safeParse(body);
  if (!parsed.success) return storableInput(body ?? null);
  const { key_id, owner, public_key, not_before, not_after } = parsed.data;
  return {
    key_id,
    owner,
    public_key,
    not_before: not_before ?? null,
    not_after: not_after ?? null,
  };
}

/** The input a revocation is recorded and deduplicated by: the path's key id and the body. */
export const revocationInput = (keyId: string, body: unknown): unknown => ({
  key_id: storableInput(keyId),
  body: storableInput(body ?? null),
});

const sameInstant = (a: string | null, b: string | null | undefined): boolean =>
  a === null || b === null || b === undefined ? a === (b ?? null) : Date.parse(a) === Date.parse(b);

/**
 * True when `body` registers exactly `key` again: same owner, public key and window (a window
 * start left to the registration time matches only one left so again). Such a retry is answered
 * as a duplicate of the original registration.
 */
export function sameRegistration(key: RegisteredKey, body: KeyRegistrationBody): boolean {
  return (
    key.owner === body.owner &&
    key.public_key === body.public_key &&
    sameInstant(key.requested_not_before, body.not_before) &&
    sameInstant(key.not_after, body.not_after)
  );
}

/**
 * True when `x` is the canonical unpadded base64url of 32 bytes that encode a point of Ed25519 and
 * node:crypto imports as a key (the import alone does not check the point).
 */
function isEd25519Key(x: string): boolean {
  const bytes = Buffer.from(x, 'base64url');
  if (bytes.toString('base64url') !== x || !isEd25519Point(bytes)) return false;
  try {
    createPublicKey({ key: { kty: 'OKP', crv: 'Ed25519', x }, format: 'jwk' });
    return true;
  } catch {
    return false;
  }
}

const forbidden = (principal: Principal): Reason => ({
  code: 'FORBIDDEN',
  message: `Only an operator may change signing keys, not ${principal.role} ${quote(principal.id)}.`,
});

function schemaInvalid(what: string, issues: ContractIssue[]): Reason {
  return {
    code: 'SCHEMA_INVALID',
    message: `${what}: ${issues.map((i) => `${i.path}: ${i.message}`).join('; ')}`,
    issues,
  };
}

const issuesOf = (error: { issues: { path: PropertyKey[]; message: string }[] }) =>
  error.issues.map((i) => ({ path: i.path.map(String).join('.') || '(body)', message: i.message }));

/** Decides a registration on the registry: `key.registered`, or a recorded rejection. */
export function decideRegistration(
  state: KeyRegistryState,
  command: RegisterKey,
): Decision<KeyEvent> {
  const { body } = command.data;
  const { received_at, principal } = command.metadata;
  const reject = (reason: Reason): Decision<KeyEvent> => ({
    outcome: 'rejected',
    events: [
      {
        type: 'key.registration_rejected',
        data: {
          input: registrationInput(body),
          reasons: storedReasons([reason]),
          received_at,
          principal,
        },
      },
    ],
    reasons: [reason],
  });
  if (principal.role !== 'operator') return reject(forbidden(principal));
  const parsed = keyRegistrationBodySchema.safeParse(body);
  if (!parsed.success)
    return reject(
      schemaInvalid(
        'A key registration is {key_id, owner, public_key, not_before?, not_after?}',
        issuesOf(parsed.error),
      ),
    );
  const registration = parsed.data;
  const id = quote(registration.key_id);
  if (!isEd25519Key(registration.public_key))
    return reject(
      schemaInvalid('The public key is refused', [
        { path: 'public_key', message: 'is not a valid Ed25519 public key' },
      ]),
    );
  const notBefore = registration.not_before ?? received_at;
  if (
    registration.not_after !== undefined &&
    Date.parse(registration.not_after) <= Date.parse(notBefore)
  )
    return reject(
      schemaInvalid('The validity window is empty', [
        {
          path: 'not_after',
          message: `${registration.not_after} is not after not_before ${notBefore}`,
        },
      ]),
    );
  const existing = state.keys.get(registration.key_id);
  if (existing !== undefined)
    return reject({
      code: 'ALREADY_EXISTS',
      message: sameRegistration(existing, registration)
        ? `Key ${id} is already registered with this content (at ${existing.registered_at}).`
        : `Key ${id} is already registered, with other content (at ${existing.registered_at}): register the new key under a new id.`,
    });
  return {
    outcome: 'accepted',
    events: [
      {
        type: 'key.registered',
        data: {
          key_id: registration.key_id,
          owner: registration.owner,
          public_key: registration.public_key,
          not_before: registration.not_before ?? null,
          not_after: registration.not_after ?? null,
          registered_at: received_at,
          principal,
        },
      },
    ],
  };
}

/** Decides a revocation on the registry: `key.revoked`, or a recorded rejection. */
export function decideRevocation(state: KeyRegistryState, command: RevokeKey): Decision<KeyEvent> {
  const { key_id: keyId, body } = command.data;
  const { received_at, principal } = command.metadata;
  const reject = (reason: Reason): Decision<KeyEvent> => ({
    outcome: 'rejected',
    events: [
      {
        type: 'key.revocation_rejected',
        data: {
          input: revocationInput(keyId, body),
          reasons: storedReasons([reason]),
          received_at,
          principal,
        },
      },
    ],
    reasons: [reason],
  });
  if (principal.role !== 'operator') return reject(forbidden(principal));
  const key = state.keys.get(keyId);
  if (key === undefined)
    return reject({ code: 'NOT_FOUND', message: `No signing key ${quote(keyId)}.` });
  const parsed = keyRevocationBodySchema.safeParse(body);
  if (!parsed.success)
    return reject(
      schemaInvalid(
        'A revocation is {"reason": "..."} (1 to 2000 characters)',
        issuesOf(parsed.error),
      ),
    );
  if (key.revoked_at !== null)
    return reject({
      code: 'ALREADY_EXISTS',
      message: `Key ${quote(keyId)} was already revoked at ${key.revoked_at}; the first revocation stands.`,
    });
  return {
    outcome: 'accepted',
    events: [
      {
        type: 'key.revoked',
        data: { key_id: keyId, revoked_at: received_at, reason: parsed.data.reason, principal },
      },
    ],
  };
}
