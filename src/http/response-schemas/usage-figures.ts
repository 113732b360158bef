import { z } from 'zod';

/** One usage field against its budget (`budget-figures.ts` computes it). */
export const usageFigureSchema = z
  .object({
    used: z.number().meta({ description: "The latest accepted callback's value." }),
    max: z.number().meta({ description: "The dispatch's budget for it." }),
    percent: z
      .number()
      .nullable()
      .meta({ description: 'used / max * 100, two decimals; null when max is 0.' }),
    breached: z.boolean().meta({ description: 'used > max.' }),
  })
  .meta({ id: 'UsageFigure' });

/** Per usage field of the contract, under the callbacks' names. */
export const usageFiguresSchema = z
  .object({
    runtime_minutes: usageFigureSchema,
    llm_calls: usageFigureSchema,
    estimated_cost_usd: usageFigureSchema,
  })
  .meta({
    id: 'UsageFigures',
    description:
      "Per usage field of the contract: the latest accepted callback's value against the dispatch's budget for it.",
  });
export type UsageFigures = z.infer<typeof usageFiguresSchema>;
