import { z } from 'zod';
import { count, logPosition } from './fields.ts';

/** The answer to an accepted (201) or replayed (200) dispatch, callback or cancel. */
export const commandResultSchema = z
  .object({
    mission_id: z.string(),
    vp_session_id: z
      .string()
      .optional()
      .meta({ description: 'Dispatch only: the session, allocated when absent.' }),
    revision: count.meta({ description: "The appended event's revision in the mission stream." }),
    position: logPosition.meta({ description: "The appended event's global position." }),
    duplicate: z
      .boolean()
      .meta({ description: 'True when an idempotent retry replayed the original result.' }),
    warnings: z
      .array(z.object({ code: z.string(), message: z.string() }))
      .optional()
      .meta({
        description:
          'Policy rules in warn mode that found a problem: accepted, and recorded with the input. Absent when none.',
      }),
  })
  .meta({ id: 'CommandResult', description: 'Where the command was recorded.' });
export type CommandResult = z.infer<typeof commandResultSchema>;
