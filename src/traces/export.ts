import { principalSchema, type Principal } from '../../schemas/mission-events.ts';
import { missionIdOf } from '../../schemas/streams.ts';
import type { TraceLine } from '../../schemas/trace.ts';
import { actorPrincipal } from '../domain/idempotency-key.ts';
import { isLifecycleEventType } from '../domain/mission/index.ts';

/** The part of a stored event an export reads. */
export interface ExportedEvent {
  stream: string;
  type: string;
  data: Record<string, unknown>;
  metadata: { actor?: string };
}

type Json = TraceLine['body'];
type Line = Omit<TraceLine, 'seq'>;

const text = (value: unknown): string | undefined =>
  typeof value === 'string' ? value : undefined;
const json = (value: unknown): Json => (value === undefined ? null : (value as Json));

/** The principal of the data, else the event's actor. */
function principalOf(event: ExportedEvent): Principal | undefined {
  const parsed = principalSchema.safeParse(event.data.principal);
  return parsed.success ? parsed.data : actorPrincipal(event.metadata.actor);
}

/** The reason codes a rejection event records, in order. */
function reasonCodes(data: Record<string, unknown>): string[] {
  const reasons = Array.isArray(data.reasons) ? (data.reasons as unknown[]) : [];
  return reasons.flatMap((r) => {
    const code = typeof r === 'object' && r !== null ? (r as { code?: unknown }).code : undefined;
    return typeof code === 'string' ? [code] : [];
  });
}

/** The mission id of a `mission-{id}` stream, else what a rejection names. */
function missionTarget(event: ExportedEvent): string | undefined {
  return missionIdOf(event.stream) ?? text(event.data.mission_id);
}

const signatureHeader = (data: Record<string, unknown>) => {
  const signature = text(data.signature);
  return signature === undefined ? {} : { 'ledger-signature': signature };
};

/**
 * The trace line of one stored event, without its `seq`, or undefined for an event that records
 * no input (a projection's checkpoint, a policy activation at start, a simulation job).
 *
 * What the log does not keep, the line cannot carry: the `Idempotency-Key` header of cancels and
 * key changes is stored only as a digest, so those lines carry none; a signed profile's signature
 * is recorded only as the id of the key that made it. Dispatches and callbacks carry their key
 * in the body, and the `Ledger-Signature` header as recorded.
 */
export function traceLineOfEvent(event: ExportedEvent): Line | undefined {
  const { type, data } = event;
  const principal = principalOf(event);
  const received_at = text(data.received_at);
  const accepted = { outcome: 'accepted' as const, reasons: [] };
  const rejected = { outcome: 'rejected' as const, reasons: reasonCodes(data) };
  const line = (
    kind: TraceLine['kind'],
    at: string | undefined,
    body: unknown,
    more: Partial<Line>,
  ): Line | undefined =>
    principal === undefined || at === undefined
      ? undefined
      : { kind, received_at: at, principal, headers: {}, body: json(body), ...more };

  switch (type) {
    case 'mission.dispatched':
      return line('dispatch', received_at, data.input, {
        headers: signatureHeader(data),
        recorded: accepted,
      });
    case 'mission.dispatch_rejected':
      return line('dispatch', received_at, data.input, {
        headers: signatureHeader(data),
        recorded: rejected,
      });
    case 'mission.callback_rejected':
      return line('callback', received_at, data.input, {
        ...target(missionTarget(event)),
        headers: signatureHeader(data),
        recorded: rejected,
      });
    case 'mission.cancel_requested':
      return line(
        'cancel',
        received_at,
        { reason: data.reason },
        {
          ...target(missionTarget(event)),
          recorded: accepted,
        },
      );
    case 'mission.cancel_rejected':
      return line('cancel', received_at, data.input ?? { reason: data.reason }, {
        ...target(missionTarget(event)),
        recorded: rejected,
      });
    case 'key.registered':
      return line(
        'key.register',
        text(data.registered_at),
        {
          key_id: data.key_id,
          owner: data.owner,
          public_key: data.public_key,
          ...(data.not_before == null ? {} : { not_before: data.not_before }),
          ...(data.not_after == null ? {} : { not_after: data.not_after }),
        },
        { recorded: accepted },
      );
    case 'key.registration_rejected':
      return line('key.register', received_at, data.input, { recorded: rejected });
    case 'key.revoked':
      return line(
        'key.revoke',
        text(data.revoked_at),
        { reason: data.reason },
        {
          ...target(text(data.key_id)),
          recorded: accepted,
        },
      );
    case 'key.revocation_rejected': {
      const input = (data.input ?? {}) as { key_id?: unknown; body?: unknown };
      return line('key.revoke', received_at, input.body ?? null, {
        ...target(text(input.key_id)),
        recorded: rejected,
      });
    }
    case 'policy.activated':
      if (data.source !== 'operator') return undefined;
      return line(
        'policy.activate',
        text(data.activated_at),
        { profile: data.profile, override: data.override ?? null },
        { recorded: accepted },
      );
    default:
      if (!isLifecycleEventType(type)) return undefined;
      return line('callback', received_at, data.callback, {
        ...target(missionTarget(event)),
        headers: signatureHeader(data),
        recorded: accepted,
      });
  }
}

const target = (value: string | undefined): { target?: string } =>
  value === undefined || value === '' ? {} : { target: value };
