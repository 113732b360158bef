import { createHash } from 'node:crypto';
import type { Principal } from '../../../schemas/index.ts';
import { sameJson } from '../../audit/canonical-json.ts';
import { isLifecycleEventType } from './state.ts';

/** An event as read from a stream, with the idempotency key its metadata may carry. */
export interface KeyedEvent {
  type: string;
  data: unknown;
  metadata?: { idempotency_key?: string };
}

/**
 * The event of a stream that carries `idempotencyKey`: the earlier outcome of a retried input,
 * or `undefined` when the key is new. Keys are unique per stream, so there is at most one.
 */
export function findPrior<E extends KeyedEvent>(
  events: Iterable<E>,
  idempotencyKey: string,
): E | undefined {
  for (const event of events) if (event.metadata?.idempotency_key === idempotencyKey) return event;
  return undefined;
}

const field = (data: unknown, key: string): unknown =>
  typeof data === 'object' && data !== null ? (data as Record<string, unknown>)[key] : undefined;

/**
 * The input a recorded outcome was decided on, in the shape it was received: `data.input` for
 * dispatches and rejections, `data.callback` for accepted callbacks, `{ reason }` for cancel
 * requests. `undefined` for event types that record no input.
 */
export function recordedInput(prior: { type: string; data: unknown }): unknown {
  switch (prior.type) {
    case 'mission.dispatched':
    case 'mission.dispatch_rejected':
    case 'mission.callback_rejected':
      return field(prior.data, 'input');
    case 'mission.cancel_requested':
    case 'mission.cancel_rejected':
      return { reason: field(prior.data, 'reason') };
    default:
      return isLifecycleEventType(prior.type) ? field(prior.data, 'callback') : undefined;
  }
}

/**
 * True when `payload` is the input `prior` was decided on, compared as canonical JSON (RFC 8785:
 * key order and number spelling do not matter). A retry with the same key and the same payload
 * is answered with the prior outcome; the same key with another payload is a key reuse.
 */
export function sameInput(prior: { type: string; data: unknown }, payload: unknown): boolean {
  const recorded = recordedInput(prior);
  if (recorded === undefined) return false;
  return sameJson(recorded, payload === undefined ? null : payload);
}

/** The kinds of input the mission aggregate takes; each has its own idempotency key space. */
export type InputKind = 'dispatch' | 'callback' | 'cancel';

/** The kind of input a recorded mission event answers, or undefined for other event types. */
export function inputKindOf(type: string): InputKind | undefined {
  switch (type) {
    case 'mission.dispatched':
    case 'mission.dispatch_rejected':
      return 'dispatch';
    case 'mission.callback_rejected':
      return 'callback';
    case 'mission.cancel_requested':
    case 'mission.cancel_rejected':
      return 'cancel';
    default:
      return isLifecycleEventType(type) ? 'callback' : undefined;
  }
}

const SCOPED_KEY = /^(dispatch|callback|cancel):[A-Za-z0-9_-]{43}$/;

/**
 * The key an input's outcome is stored under: the client's idempotency key scoped to the kind of
 * input and to the principal that sent it, `<kind>:` followed by the unpadded base64url SHA-256
 * of the JSON array `[kind, role, id, key]`. So a key binds only its sender's inputs of one kind:
 * a stranger who guesses the key another sender will use reaches a different key, and an
 * operator's cancel key cannot collide with a factory's callback key. Anyone can recompute it
 * from the event (kind from its type, sender from `metadata.actor`, key from the input).
 */
export function scopedKey(kind: InputKind, principal: Principal, key: string): string {
  const digest = createHash('sha256')
    .update(JSON.stringify([kind, principal.role, principal.id, key]))
    .digest('base64url');
  return `${kind}:${digest}`;
}

/**
 * The scoped key of a stored mission event: its metadata key as written, or, for an event
 * recorded before keys were scoped (the client's key as sent), the key {@link scopedKey} gives it
 * from the event's type and `metadata.actor` (`role:id`). Undefined for an event under no key.
 */
export function storedScopedKey(event: {
  type: string;
  metadata?: { idempotency_key?: string; actor?: string };
}): string | undefined {
  const key = event.metadata?.idempotency_key;
  if (key === undefined || SCOPED_KEY.test(key)) return key;
  const kind = inputKindOf(event.type);
  const actor = event.metadata?.actor;
  const split = actor?.indexOf(':') ?? -1;
  if (kind === undefined || actor === undefined || split < 0) return key;
  const role = actor.slice(0, split) as Principal['role'];
  return scopedKey(kind, { role, id: actor.slice(split + 1) }, key);
}
