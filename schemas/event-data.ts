import type { z } from 'zod';
import {
  missionBoundDataSchema,
  missionEventDataSchemas,
  unattributedRejectionDataSchema,
} from './mission-events.ts';
import { policyActivatedDataSchema } from './policy-events.ts';
import { keyEventDataSchemas } from './signing-keys.ts';
import {
  KEYS_STREAM,
  POLICY_STREAM,
  REJECTIONS_STREAM,
  isVpSessionStream,
  missionIdOf,
} from './streams.ts';

const UNATTRIBUTED_TYPES = new Set([
  'mission.dispatch_rejected',
  'mission.callback_rejected',
  'mission.cancel_rejected',
]);

/**
 * The data schema of an event the ledger stores, by stream and type: every event type of every
 * stream the ledger writes has one. Undefined for an event no version of the ledger writes.
 */
export function eventDataSchema(stream: string, type: string): z.ZodType | undefined {
  if (missionIdOf(stream) !== undefined)
    return (missionEventDataSchemas as Record<string, z.ZodType>)[type];
  if (stream === REJECTIONS_STREAM)
    return UNATTRIBUTED_TYPES.has(type) ? unattributedRejectionDataSchema : undefined;
  if (stream === KEYS_STREAM) return (keyEventDataSchemas as Record<string, z.ZodType>)[type];
  if (stream === POLICY_STREAM && type === 'policy.activated') return policyActivatedDataSchema;
  if (isVpSessionStream(stream) && type === 'vp_session.mission_bound')
    return missionBoundDataSchema;
  return undefined;
}
