import { z } from 'zod';
import { missionTypeSchema } from '../../../schemas/index.ts';
import { asOfPosition, dateTime, logPosition, nextCursor } from './fields.ts';
import { missionViewSchema } from './mission-view.ts';
import { usageFiguresSchema } from './usage-figures.ts';

/** `GET /v1/missions`: a page of the `mission_state` read model. */
export const missionListSchema = z
  .object({
    missions: z.array(missionViewSchema),
    next_cursor: nextCursor,
    as_of_position: asOfPosition,
  })
  .meta({ id: 'MissionList', description: 'A page of missions, newest dispatch first.' });
export type MissionList = z.infer<typeof missionListSchema>;

/** `GET /v1/budgets/{mission_id}`: the `budgets` row of a mission. */
export const budgetSchema = z
  .object({
    mission_id: z.string(),
    mission_type: missionTypeSchema,
    usage: usageFiguresSchema,
    any_breached: z.boolean(),
    updated_at: dateTime,
    last_position: logPosition,
    as_of_position: asOfPosition,
  })
  .meta({ id: 'Budget', description: 'Usage against budget.' });
export type Budget = z.infer<typeof budgetSchema>;

/** `GET /v1/vp-sessions/{vp_id}/{vp_session_id}`: a VP session registry record. */
export const vpSessionSchema = z
  .object({
    vp_id: z.string(),
    vp_session_id: z.string(),
    workspace_key: z.string().meta({ description: 'Deterministic for the pair.' }),
    vp_runtime_id: z
      .string()
      .meta({ description: 'The runtime lane of the latest mission bound to the session.' }),
    missions: z
      .array(z.string())
      .meta({ description: 'The mission ids bound to the session, in dispatch order.' }),
    registered_at: dateTime,
    updated_at: dateTime,
    as_of_position: asOfPosition,
  })
  .meta({ id: 'VpSession', description: 'A VP session registry record.' });
export type VpSession = z.infer<typeof vpSessionSchema>;
