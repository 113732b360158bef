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
