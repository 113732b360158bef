import { z } from 'zod';
import { recordedLifecycleEventSchema, type LifecycleEventType } from './lifecycle-event.ts';
import { recordedMissionDispatchSchema } from './mission-envelope.ts';
import { policyDecisionSchema } from './policy-decision.ts';
import { identifier, isoDateTime } from './primitives.ts';

/** Who sent an input, as the HTTP layer authenticated it. */
export const principalSchema = z
  .strictObject({
    role: z.enum(['operator', 'factory', 'auditor']).describe('What the caller may do.'),
    id: identifier.describe('Who the caller is; for a factory, its instance id.'),
  })
  .meta({ id: 'Principal', description: 'The authenticated sender of an input.' });
/** An authenticated sender: an operator, a factory instance or an auditor. */
export type Principal = z.infer<typeof principalSchema>;

/**
 * Why an input was rejected. `code` is a stable code of the ledger's one error namespace; the
 * schema takes any code of that shape so that rules added later (policy, signatures) need no
 * schema change.
 */
export const rejectionReasonSchema = z
  .strictObject({
    code: z
      .string()
      .regex(/^[A-Z][A-Z0-9_]*$/)
      .describe('Stable reason code, e.g. IDENTITY_MISMATCH.'),
    message: z.string().min(1).describe('Human-readable explanation.'),
  })
  .meta({ id: 'RejectionReason', description: 'One reason an input was rejected.' });
/** A reason code with its human-readable message, as stored in rejection events. */
export type RejectionReason = z.infer<typeof rejectionReasonSchema>;

const reasons = z.array(rejectionReasonSchema).min(1).describe('Every reason, in rule order.');
const receivedAt = isoDateTime.describe('When the ledger received the input, ISO-8601.');
const asReceived = z
  .unknown()
  .describe('The input exactly as received; may not match the contract.');
/** Absent on events recorded before policies were decided and recorded. */
const policy = policyDecisionSchema
  .optional()
  .describe('The policy decision on the input (absent on events of ledgers before policies).');
/** Which signing keys the signature rule checked against: replay decides again under the same. */
const keyRingRevision = z
  .number()
  .int()
  .min(-1)
  .optional()
  .describe(
    'The revision of the ledger-keys stream the signature rule checked against (-1: no key yet); absent when the rule did not run.',
  );
/** A compact detached JWS is base64url and dots; anything else is not stored. */
const signature = z
  .string()
  .max(4096)
  .regex(/^[A-Za-z0-9_.-]*$/)
  .optional()
  .describe('The Ledger-Signature header as received (a detached JWS), when the input had one.');

/** Data of `mission.dispatched`: a dispatch the ledger accepted, and the session it runs in. */
export const missionDispatchedDataSchema = z
  .strictObject({
    input: recordedMissionDispatchSchema,
    vp_session_id: identifier.describe(
      "The input's vp_session_id, or the one the ledger allocated.",
    ),
    vp_session_allocated: z.boolean().describe('True when the ledger allocated vp_session_id.'),
    workspace_key: z
      .string()
      .regex(/^ws_[0-9a-f]{24}$/)
      .describe('Deterministic workspace key of (vp_id, vp_session_id).'),
    received_at: receivedAt,
    principal: principalSchema,
    policy,
    signature,
    key_ring_revision: keyRingRevision,
  })
  .meta({ title: 'mission.dispatched', description: 'A dispatch the ledger accepted.' });
/** Data of `mission.dispatched`. */
export type MissionDispatchedData = z.infer<typeof missionDispatchedDataSchema>;

/** Data of `mission.dispatch_rejected`: a dispatch as received and why it was refused. */
export const missionDispatchRejectedDataSchema = z
  .strictObject({
    input: asReceived,
    reasons,
    received_at: receivedAt,
    principal: principalSchema,
    policy,
    signature,
    key_ring_revision: keyRingRevision,
  })
  .meta({ title: 'mission.dispatch_rejected', description: 'A dispatch the ledger rejected.' });
/** Data of `mission.dispatch_rejected`. */
export type MissionDispatchRejectedData = z.infer<typeof missionDispatchRejectedDataSchema>;

/**
 * Data of an accepted lifecycle callback. The event's type is the callback's `event_type`
 * (`mission.accepted`, `mission.progress`, ...).
 */
export const missionCallbackAcceptedDataSchema = z
  .strictObject({
    callback: recordedLifecycleEventSchema,
    received_at: receivedAt,
    principal: principalSchema,
    policy,
    signature,
    key_ring_revision: keyRingRevision,
  })
  .meta({
    title: 'accepted lifecycle callback',
    description: 'A lifecycle event the ledger accepted; the event type is its event_type.',
  });
/** Data of an accepted lifecycle callback. */
export type MissionCallbackAcceptedData = z.infer<typeof missionCallbackAcceptedDataSchema>;

/** Data of `mission.callback_rejected`: a callback as received and why it was refused. */
export const missionCallbackRejectedDataSchema = z
  .strictObject({
    input: asReceived,
    reasons,
    received_at: receivedAt,
    principal: principalSchema,
    policy,
    signature,
    key_ring_revision: keyRingRevision,
  })
  .meta({ title: 'mission.callback_rejected', description: 'A callback the ledger rejected.' });
/** Data of `mission.callback_rejected`. */
export type MissionCallbackRejectedData = z.infer<typeof missionCallbackRejectedDataSchema>;

/** Data of `mission.cancel_requested`: an operator asked the factory to stop. */
export const missionCancelRequestedDataSchema = z
  .strictObject({
    reason: z.string().min(1).max(2000).describe('Why the mission should stop.'),
    requested_by: identifier.describe('Who asked.'),
    received_at: receivedAt,
  })
  .meta({
    title: 'mission.cancel_requested',
    description: 'A cancel request the ledger accepted.',
  });
/** Data of `mission.cancel_requested`. */
export type MissionCancelRequestedData = z.infer<typeof missionCancelRequestedDataSchema>;

/** Data of `mission.cancel_rejected`: a cancel request as received and why it was refused. */
export const missionCancelRejectedDataSchema = z
  .strictObject({
    reason: z.string().describe('The reason as received.'),
    requested_by: z.string().describe('Who asked, as received.'),
    reasons,
    received_at: receivedAt,
  })
  .meta({ title: 'mission.cancel_rejected', description: 'A cancel request the ledger rejected.' });
/** Data of `mission.cancel_rejected`. */
export type MissionCancelRejectedData = z.infer<typeof missionCancelRejectedDataSchema>;

/**
 * The data schema of every event type of a `mission-{mission_id}` stream. The eight lifecycle
 * types share one schema: an accepted callback is stored under its own `event_type`.
 */
export const missionEventDataSchemas = {
  'mission.dispatched': missionDispatchedDataSchema,
  'mission.dispatch_rejected': missionDispatchRejectedDataSchema,
  'mission.accepted': missionCallbackAcceptedDataSchema,
  'mission.progress': missionCallbackAcceptedDataSchema,
  'mission.blocked': missionCallbackAcceptedDataSchema,
  'mission.artifact': missionCallbackAcceptedDataSchema,
  'mission.completed': missionCallbackAcceptedDataSchema,
  'mission.failed': missionCallbackAcceptedDataSchema,
  'mission.cancelled': missionCallbackAcceptedDataSchema,
  'mission.timed_out': missionCallbackAcceptedDataSchema,
  'mission.callback_rejected': missionCallbackRejectedDataSchema,
  'mission.cancel_requested': missionCancelRequestedDataSchema,
  'mission.cancel_rejected': missionCancelRejectedDataSchema,
} as const satisfies Record<LifecycleEventType, typeof missionCallbackAcceptedDataSchema> &
  Record<string, z.ZodType>;
/** An event type of a mission stream. */
export type MissionEventType = keyof typeof missionEventDataSchemas;

/** The body of `POST /v1/missions/{id}/cancel`. */
export const cancelRequestBodySchema = z
  .strictObject({
    reason: z.string().trim().min(1).max(2000).describe('Why the mission should stop.'),
  })
  .meta({
    title: 'cancel request',
    description: 'An operator asks the factory to stop a mission.',
  });
/** The body of a cancel request. */
export type CancelRequestBody = z.infer<typeof cancelRequestBodySchema>;

/**
 * Data of the rejections recorded in the stream `ledger-rejections` (`mission.dispatch_rejected`,
 * `mission.callback_rejected`, `mission.cancel_rejected` alike): inputs that name no mission that
 * exists, or come from a sender the mission is not addressed to. `mission_id` is the one the input
 * named, or null when it named none usable.
 */
export const unattributedRejectionDataSchema = missionDispatchRejectedDataSchema
  .extend({
    mission_id: z.string().nullable().describe('The mission the input named, as received.'),
  })
  .meta({
    title: 'ledger-rejections event',
    description: 'An input recorded outside any mission stream, with every reason.',
  });
/** Data of an event of `ledger-rejections`. */
export type UnattributedRejectionData = z.infer<typeof unattributedRejectionDataSchema>;

/**
 * Data of `vp_session.mission_bound` in a `vp-session-{workspace_key}` stream: one mission bound
 * to a VP session. Ledgers before the registry was folded from `mission.dispatched` appended one
 * after each dispatch; logs keep them, and the `vp_sessions` projection still reads them.
 */
export const missionBoundDataSchema = z
  .strictObject({
    vp_id: identifier,
    vp_session_id: identifier,
    vp_runtime_id: identifier,
    workspace_key: z.string().regex(/^ws_[0-9a-f]{24}$/),
    mission_id: identifier,
  })
  .meta({ title: 'vp_session.mission_bound', description: 'A mission bound to a VP session.' });
/** Data of `vp_session.mission_bound`. */
export type MissionBoundData = z.infer<typeof missionBoundDataSchema>;
