import { z } from 'zod';
import { missionStatusSchema, missionTypeSchema } from '../../../schemas/index.ts';
import { asOfPosition, count, dateTime, logPosition, nextCursor } from './fields.ts';

/** A blocked mission of the approval queue, with its age now. */
const approvalSchema = z
  .object({
    mission_id: z.string(),
    since: dateTime.meta({ description: '`received_at` of the event that blocked the mission.' }),
    summary: z.string().meta({ description: 'What the mission waits for.' }),
    vp_id: z.string(),
    vp_session_id: z.string(),
    target_instance_id: z.string(),
    mission_type: missionTypeSchema,
    trace_id: z.string(),
    updated_at: dateTime,
    last_position: logPosition,
    age_seconds: count.meta({ description: 'now - since, whole seconds.' }),
  })
  .meta({ id: 'Approval' });

/** `GET /v1/dashboards/approvals`: blocked missions, longest blocked first. */
export const approvalsSchema = z
  .object({
    approvals: z.array(approvalSchema),
    next_cursor: nextCursor,
    as_of_position: asOfPosition,
    now: dateTime.meta({ description: 'The instant the ages are computed at.' }),
  })
  .meta({ id: 'Approvals', description: 'A page of the approval queue.' });
export type Approvals = z.infer<typeof approvalsSchema>;

const rate = z.number().nullable();

/** Closed missions by outcome, with the rates. */
export const outcomeCountsSchema = z
  .object({
    completed: count,
    failed: count,
    cancelled: count,
    timed_out: count,
    closed: count.meta({ description: 'completed + failed + cancelled + timed_out.' }),
    success_rate: rate.meta({ description: 'completed / closed; null when closed = 0.' }),
    failure_rate: rate.meta({
      description: '(failed + timed_out) / closed; null when closed = 0.',
    }),
  })
  .meta({ id: 'OutcomeCounts' });

const outcomeWindowSchema = z.object({
  window_hours: z.int().positive(),
  since: dateTime.meta({
    description: 'The first UTC hour counted: the hour of now minus (window_hours - 1) h.',
  }),
  mission_types: z
    .array(outcomeCountsSchema.extend({ mission_type: missionTypeSchema }))
    .meta({ description: 'Every mission type, zeros included.' }),
  total: outcomeCountsSchema,
});

/** `GET /v1/dashboards/mission-health`. */
export const missionHealthSchema = z
  .object({
    now: dateTime,
    as_of_position: asOfPosition,
    status_counts: z.array(
      z.object({ mission_type: missionTypeSchema, status: missionStatusSchema, missions: count }),
    ),
    outcomes: z.array(outcomeWindowSchema),
    rejections: z.array(
      z.object({
        rejected_type: z.string().meta({
          description:
            'mission.dispatch_rejected, mission.callback_rejected or mission.cancel_rejected.',
        }),
        reason_code: z.string(),
        rejections: count,
      }),
    ),
  })
  .meta({
    id: 'MissionHealth',
    description: 'Missions per type and status, outcomes, rejections.',
  });
export type MissionHealth = z.infer<typeof missionHealthSchema>;

const ratio = z.number().min(0).max(1);

/** One profile's decided inputs in a window, with its rejection ratio. */
const policyProfileCountsSchema = z.object({
  profile_id: z.string(),
  decided: count.meta({ description: 'Inputs with a recorded decision of this profile.' }),
  rejected: count.meta({ description: 'Those the policy rejected (an enforced finding).' }),
  rejection_ratio: ratio.nullable().meta({
    description: 'rejected / decided; null when decided = 0.',
  }),
});

const policyWindowSchema = z.object({
  window_hours: z.int().positive(),
  since: dateTime.meta({
    description: 'The first UTC hour counted: the hour of now minus (window_hours - 1) h.',
  }),
  rules: z
    .array(
      z.object({
        rule: z.string(),
        code: z.string(),
        blocks: count.meta({ description: 'Findings enforced: the input was rejected.' }),
        warnings: count.meta({ description: 'Findings warned: accepted with a warning.' }),
        shadow_verdicts: count.meta({ description: 'Findings in shadow: recorded only.' }),
      }),
    )
    .meta({ description: 'Every rule and reason code that fired in the window.' }),
  top_factories: z.array(z.object({ factory: z.string(), blocks: count })).meta({
    description:
      'Senders with blocks (principal ids: the factory of a callback, the operator of a dispatch), most blocks first, then by id; the first few only.',
  }),
  profiles: z
    .array(policyProfileCountsSchema)
    .meta({ description: 'Every profile that decided an input in the window.' }),
  total: policyProfileCountsSchema
    .omit({ profile_id: true })
    .meta({ description: 'All profiles together.' }),
});

/** `GET /v1/dashboards/policy`. */
export const policyDashboardSchema = z
  .object({
    now: dateTime,
    as_of_position: asOfPosition,
    windows: z.array(policyWindowSchema),
  })
  .meta({
    id: 'PolicyDashboard',
    description: 'Policy blocks, warnings and shadow verdicts per window.',
  });
export type PolicyDashboard = z.infer<typeof policyDashboardSchema>;
