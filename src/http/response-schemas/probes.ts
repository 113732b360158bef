import { z } from 'zod';
import { errorBodySchema } from './error-body.ts';
import { projectionStatusSchema } from './projection-status.ts';

/** `GET /v1/healthz`: the process is up, with what it runs with. */
export const healthSchema = z
  .object({
    status: z.literal('ok'),
    store: z.string().meta({ description: 'The store URL, credentials redacted.' }),
    env: z.string(),
    version: z.string(),
  })
  .meta({ id: 'Health' });
export type Health = z.infer<typeof healthSchema>;

const projections = z.array(projectionStatusSchema);

/** `GET /v1/readyz` 200: the store answered; `degraded` when a projection is stalled. */
export const readySchema = z
  .object({
    status: z.enum(['ready', 'degraded']),
    store: z.object({ status: z.literal('up'), latency_ms: z.number().nonnegative() }),
    projections,
    stalled: z
      .array(z.string())
      .optional()
      .meta({ description: 'The stalled projections; absent when none is.' }),
  })
  .meta({ id: 'Ready' });
export type Ready = z.infer<typeof readySchema>;

/** `GET /v1/readyz` 503: the store failed or did not answer in time. */
export const notReadySchema = z
  .object({
    status: z.literal('degraded'),
    store: z.object({ status: z.literal('down'), error: z.string() }),
    projections,
    error: errorBodySchema.shape.error,
  })
  .meta({ id: 'NotReady' });
export type NotReady = z.infer<typeof notReadySchema>;
