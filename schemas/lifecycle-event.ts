import { z } from 'zod';
import { finalStatuses, lifecycleEventTypes, missionStatuses } from './lifecycle.ts';
import {
  identifier,
  idempotencyKey,
  isoDateTime,
  missionId,
  nonNegative,
  nonNegativeInt,
  stringList,
} from './primitives.ts';

/** The eight lifecycle events a factory reports to the control plane (seed 002 §2). */
export const lifecycleEventTypeSchema = z
  .enum(lifecycleEventTypes)
  .meta({ id: 'LifecycleEventType', description: 'Which lifecycle event this is.' });
/** A lifecycle event type, e.g. `mission.accepted`. */
export type LifecycleEventType = z.infer<typeof lifecycleEventTypeSchema>;

/** A mission's status as the factory reports it (seed 002 §3). */
export const missionStatusSchema = z
  .enum(missionStatuses)
  .meta({ id: 'MissionStatus', description: 'Mission status as of this event.' });
/** A mission status. */
export type MissionStatus = z.infer<typeof missionStatusSchema>;

export { finalStatuses };
/** A status that closes a mission. */
export type FinalStatus = (typeof finalStatuses)[number];

/** What the mission has consumed so far, in the units of the dispatch budget. */
export const missionUsageSchema = z
  .strictObject({
    runtime_minutes: nonNegative.describe('Wall-clock minutes used.'),
    llm_calls: nonNegativeInt.describe('LLM calls made.'),
    estimated_cost_usd: nonNegative.describe('Estimated spend in US dollars.'),
  })
  .meta({ id: 'MissionUsage', description: 'Resources consumed so far.' });
/** Parsed mission usage. */
export type MissionUsage = z.infer<typeof missionUsageSchema>;

/** One entry of a final event's artifact index (seed 002 §6.3). */
export const artifactIndexEntrySchema = z
  .strictObject({
    ref: z.string().min(1).describe('Artifact reference, as in artifact_refs.'),
    description: z.string().min(1).optional().describe('What the artifact is.'),
  })
  .meta({ id: 'ArtifactIndexEntry', description: 'An indexed artifact.' });
/** A parsed artifact index entry. */
export type ArtifactIndexEntry = z.infer<typeof artifactIndexEntrySchema>;

/**
 * A lifecycle event sent by a factory (seed 002 §3, the "event payload minimum").
 *
 * `artifact_index` and `next_action` are the ledger's representation of §6.3 ("final event should
 * include artifact index and next-action recommendation"). They are optional here because the
 * minimum allows additions but does not require them; insisting on them for final events is the
 * decide path's job, where the event type and mission state are known, not this schema's.
 */
export const lifecycleEventSchema = z
  .strictObject({
    mission_id: missionId.describe('Mission this event belongs to.'),
    vp_id: identifier.describe('VP identity; must match the dispatch (§4.5).'),
    vp_session_id: identifier.describe('VP session; must match the dispatch assignment (§4.5).'),
    vp_runtime_id: identifier.describe('Runtime lane handling the VP session.'),
    event_type: lifecycleEventTypeSchema,
    status: missionStatusSchema,
    summary: z.string().min(1).describe('Concise human-readable summary.'),
    artifact_refs: stringList.describe('References to artifacts produced so far.'),
    usage: missionUsageSchema,
    trace_id: identifier.describe('Trace id of the mission.'),
    idempotency_key: idempotencyKey.describe('Deduplicates redelivered events.'),
    emitted_at: isoDateTime.describe('When the factory emitted the event, ISO-8601 with offset.'),
    artifact_index: z
      .array(artifactIndexEntrySchema)
      .optional()
      .describe('Index of the artifacts; expected on final events (§6.3).'),
    next_action: z
      .string()
      .min(1)
      .optional()
      .describe('Recommended next action; expected on final events (§6.3).'),
  })
  // No `id` here: zod would move an identified root into $defs and leave the document a bare $ref.
  .meta({
    title: 'Mission Envelope v1: lifecycle event',
    description: 'Sent by a factory instance to report on a mission.',
  });
/** A parsed lifecycle event. */
export type LifecycleEvent = z.infer<typeof lifecycleEventSchema>;

/**
 * A lifecycle event as recorded in an accepted callback: {@link lifecycleEventSchema} with any
 * identifier as `mission_id`, as every earlier version's schema stated it, so every event a log
 * holds still validates.
 */
export const recordedLifecycleEventSchema = lifecycleEventSchema
  .extend({ mission_id: identifier.describe('Mission this event belongs to.') })
  .meta({
    title: 'Mission Envelope v1: lifecycle event, as recorded',
    description: 'A lifecycle event the ledger accepted, as stored.',
  });
