import type { z } from 'zod';
import { lifecycleEventSchema } from './lifecycle-event.ts';
import { missionDispatchSchema } from './mission-envelope.ts';
import {
  cancelRequestBodySchema,
  missionCallbackAcceptedDataSchema,
  missionCallbackRejectedDataSchema,
  missionCancelRejectedDataSchema,
  missionCancelRequestedDataSchema,
  missionDispatchedDataSchema,
  missionDispatchRejectedDataSchema,
  unattributedRejectionDataSchema,
  missionBoundDataSchema,
} from './mission-events.ts';
import { policyDecisionSchema } from './policy-decision.ts';
import { policyActivatedDataSchema, policyActivationRequestSchema } from './policy-events.ts';
import {
  keyRegisteredDataSchema,
  keyRegistrationBodySchema,
  keyRegistrationRejectedDataSchema,
  keyRevocationBodySchema,
  keyRevocationRejectedDataSchema,
  keyRevokedDataSchema,
} from './signing-keys.ts';
import { eventMetadataSchema, storedEventSchema } from './stored-event.ts';

export * from './primitives.ts';
export * from './stored-event.ts';
export * from './mission-envelope.ts';
export * from './lifecycle-event.ts';
export * from './mission-events.ts';
export * from './lifecycle.ts';
export * from './streams.ts';
export * from './event-data.ts';
export * from './signing-keys.ts';
export * from './policy-decision.ts';
export * from './policy-events.ts';

/**
 * The schemas published as JSON Schema, keyed by the file name they are exported under
 * (`<key>.schema.json`). Adding one here publishes it and puts it under the drift gate.
 */
export const contractSchemas = {
  'mission-dispatch': missionDispatchSchema,
  'lifecycle-event': lifecycleEventSchema,
  'cancel-request': cancelRequestBodySchema,
  'stored-event': storedEventSchema,
  'event-metadata': eventMetadataSchema,
  'mission-dispatched': missionDispatchedDataSchema,
  'mission-dispatch-rejected': missionDispatchRejectedDataSchema,
  'mission-callback-accepted': missionCallbackAcceptedDataSchema,
  'mission-callback-rejected': missionCallbackRejectedDataSchema,
  'mission-cancel-requested': missionCancelRequestedDataSchema,
  'mission-cancel-rejected': missionCancelRejectedDataSchema,
  'ledger-rejection': unattributedRejectionDataSchema,
  'vp-session-mission-bound': missionBoundDataSchema,
  'key-registration': keyRegistrationBodySchema,
  'key-revocation': keyRevocationBodySchema,
  'key-registered': keyRegisteredDataSchema,
  'key-revoked': keyRevokedDataSchema,
  'key-registration-rejected': keyRegistrationRejectedDataSchema,
  'key-revocation-rejected': keyRevocationRejectedDataSchema,
  'policy-activation-request': policyActivationRequestSchema,
} as const satisfies Record<string, z.ZodType>;

/**
 * Parts of stored events published as JSON Schema for readers of the log, beside
 * {@link contractSchemas} but not among the OpenAPI components: no operation answers one on its
 * own, and an event schema that embeds one carries it into the API document itself.
 */
export const recordPartSchemas = {
  'policy-decision': policyDecisionSchema,
  'policy-activated': policyActivatedDataSchema,
} as const satisfies Record<string, z.ZodType>;
export * from './trace.ts';
