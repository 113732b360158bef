import { actorPrincipal, isScopedKey, scopedKey } from '../idempotency-key.ts';
import { isLifecycleEventType } from './state.ts';

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

/**
 * The scoped key of a stored mission event: its metadata key as written, or, for an event
 * recorded before keys were scoped (the client's key as sent), the key {@link scopedKey} gives it
 * from the event's type and `metadata.actor`. Undefined for an event under no key.
 */
export function storedScopedKey(event: {
  type: string;
  metadata?: { idempotency_key?: string; actor?: string };
}): string | undefined {
  const key = event.metadata?.idempotency_key;
  if (key === undefined || isScopedKey(key)) return key;
  const kind = inputKindOf(event.type);
  const principal = actorPrincipal(event.metadata?.actor);
  if (kind === undefined || principal === undefined) return key;
  return scopedKey(kind, principal, key);
}
