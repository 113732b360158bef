import { z } from 'zod';
import { logPosition } from './fields.ts';

/** A projection's state, as `ReadModels#status` reports it. */
export const projectionStatusSchema = z
  .object({
    name: z.string(),
    position: logPosition.meta({ description: 'The last log position committed.' }),
    status: z.enum(['running', 'stalled', 'stopped']),
    error: z.string().nullable().meta({ description: 'Why it stalled; null otherwise.' }),
    active: z.boolean().meta({
      description:
        'True when this process writes the read models; false in a standby or a --no-projections server.',
    }),
  })
  .meta({ id: 'ProjectionStatus' });

/** `GET /v1/projections`. */
export const projectionsSchema = z
  .object({
    head_position: logPosition,
    projections: z.array(
      projectionStatusSchema.extend({
        lag: logPosition.meta({ description: 'head_position - position.' }),
      }),
    ),
  })
  .meta({ id: 'Projections', description: "Each projection's progress and lag." });
export type Projections = z.infer<typeof projectionsSchema>;
