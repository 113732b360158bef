import { z } from 'zod';
import { errorCodes, type ErrorCode } from '../../errors.ts';

const codes = Object.keys(errorCodes) as [ErrorCode, ...ErrorCode[]];

/** Every stable code an answer can carry: the codes of `src/errors.ts`, and `INTERNAL` for a 500. */
export const errorCodeSchema = z
  .enum([...codes, 'INTERNAL'])
  .meta({ id: 'ErrorCode', description: 'A stable error code (docs/errors.md).' });

/** `{ error: { code, message, details } }`: the one error body (`send-error.ts`). */
export const errorBodySchema = z
  .object({
    error: z.object({
      code: errorCodeSchema,
      message: z.string(),
      details: z.record(z.string(), z.unknown()).meta({
        description:
          'Structured context: `reasons` and `recorded` for a recorded rejection, `issues` for a schema rejection, the parameter for a bad one.',
      }),
    }),
  })
  .meta({ id: 'Error', description: 'An error with a stable code.' });
export type ErrorBody = z.infer<typeof errorBodySchema>;
