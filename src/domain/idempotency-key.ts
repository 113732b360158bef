import { createHash } from 'node:crypto';
import type { Principal } from '../../schemas/index.ts';

/**
 * The key an input's outcome is stored under: the client's idempotency key scoped to a key space
 * (the kind of input: `dispatch`, `callback`, `cancel`, ...) and to the principal that sent it,
 * `<space>:` followed by the unpadded base64url SHA-256 of the JSON array `[space, role, id, key]`.
 * So a key binds only its sender's inputs of one kind: a stranger who guesses the key another
 * sender will use reaches a different key, and two kinds of input never share keys. Anyone can
 * recompute it from an event (the space from its type, the sender from `metadata.actor`, the key
 * from the input).
 */
export function scopedKey(space: string, principal: Principal, key: string): string {
  const digest = createHash('sha256')
    .update(JSON.stringify([space, principal.role, principal.id, key]))
    .digest('base64url');
  return `${space}:${digest}`;
}

const SCOPED_KEY = /^[a-z][a-z_]*:[A-Za-z0-9_-]{43}$/;

/** True when `key` has the form {@link scopedKey} gives (stored keys of earlier ledgers do not). */
export function isScopedKey(key: string): boolean {
  return SCOPED_KEY.test(key);
}

/** The principal a `metadata.actor` (`role:id`) names; undefined when it names none. */
export function actorPrincipal(actor: string | undefined): Principal | undefined {
  const split = actor?.indexOf(':') ?? -1;
  if (actor === undefined || split < 0) return undefined;
  const role = actor.slice(0, split);
  if (role !== 'operator' && role !== 'factory' && role !== 'auditor') return undefined;
  return { role, id: actor.slice(split + 1) };
}

/** The `metadata.actor` of a principal: `role:id`. */
export const actorOf = (principal: Principal): string => `${principal.role}:${principal.id}`;
