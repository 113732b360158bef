import { z } from 'zod';
import {
  artifactIndexEntrySchema,
  finalStatuses,
  lifecycleEventTypeSchema,
  missionStatusSchema,
  missionTypeSchema,
} from '../../../schemas/index.ts';
import { count, dateTime } from './fields.ts';
import { usageFiguresSchema } from './usage-figures.ts';

/** The ids the mission carries: the dispatch's, and the session and workspace it was bound to. */
const identitySchema = z.object({
  vp_id: z.string(),
  vp_session_id: z
    .string()
    .meta({ description: "The dispatch's session, or the one the ledger allocated." }),
  vp_runtime_id: z.string(),
  source_instance_id: z.string(),
  target_instance_id: z.string(),
  trace_id: z.string(),
  workspace_key: z.string().meta({ description: 'Deterministic for (vp_id, vp_session_id).' }),
});

const lastEventSchema = z
  .object({
    type: lifecycleEventTypeSchema,
    summary: z.string(),
    emitted_at: z.string().meta({ description: 'As the factory sent it.' }),
    received_at: dateTime,
  })
  .nullable()
  .meta({ description: 'The latest accepted lifecycle event, in brief; null before the first.' });

const pendingCommandSchema = z
  .object({
    type: z.literal('cancel'),
    reason: z.string(),
    requested_by: z.string().meta({ description: 'The principal, e.g. `operator:alice`.' }),
    requested_at: dateTime,
  })
  .meta({ id: 'PendingCommand', description: 'A command the factory must act on.' });

const finalSchema = z
  .object({
    status: z.enum(finalStatuses),
    summary: z.string(),
    next_action: z.string().nullable(),
    artifact_index: z.array(artifactIndexEntrySchema).nullable(),
  })
  .nullable()
  .meta({
    description:
      'How the mission ended, from the first accepted final event; null while it is open. next_action and artifact_index are null only when a warn-only policy let an incomplete final event through.',
  });

/** `GET /v1/missions/{id}` and each item of the mission list (`missionView` builds it). */
export const missionViewSchema = z
  .object({
    mission_id: z.string(),
    status: missionStatusSchema,
    mission_type: missionTypeSchema,
    objective: z.string(),
    identity: identitySchema,
    usage: usageFiguresSchema,
    last_event: lastEventSchema,
    artifacts: z.array(z.string()).meta({
      description:
        "Union of the accepted callbacks' artifact_refs, first-seen order, no duplicates.",
    }),
    pending_commands: z.array(pendingCommandSchema).meta({
      description: 'Cancel requests; each stays pending until a final event closes the mission.',
    }),
    final: finalSchema,
    counts: z.object({
      accepted: count.meta({ description: 'Accepted lifecycle callbacks.' }),
      rejected: count.meta({ description: 'Rejected inputs recorded after the dispatch.' }),
    }),
    dispatched_at: dateTime,
    updated_at: dateTime.meta({ description: '`received_at` of the latest event applied.' }),
    revision: count.meta({ description: 'The mission stream revision the view was folded to.' }),
  })
  .meta({ id: 'MissionView', description: 'A mission folded from its stream.' });
export type MissionView = z.infer<typeof missionViewSchema>;
