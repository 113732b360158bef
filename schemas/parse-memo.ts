import type { z } from 'zod';
import { fastCheck } from './fast-check.ts';

/** The last data object each schema parsed, and the result. */
interface Last {
  data: object;
  result: z.ZodSafeParseResult<unknown>;
}

const last = new WeakMap<z.ZodType, Last>();

/**
 * `schema.safeParse(data)`, answered by the schema's compiled {@link fastCheck} where it has one
 * (zod still reports the issues of data it rejects), and remembered for the last data object each
 * schema parsed. A rebuild folds each event through every projection before the next event, so
 * when they share the event object (one read of the log for all of them) its data is validated
 * once. One entry per schema, not a weak map of every object: a million weak entries cost a
 * rebuild of one projection a tenth of its time in the garbage collector, and only the latest
 * event is ever asked for again. Results are shared, so callers must not mutate them — which the
 * pure folds never do.
 */
export function safeParseStored<T>(schema: z.ZodType<T>, data: unknown): z.ZodSafeParseResult<T> {
  if (typeof data !== 'object' || data === null) return schema.safeParse(data);
  const seen = last.get(schema);
  if (seen !== undefined && seen.data === data) return seen.result as z.ZodSafeParseResult<T>;
  // Accepted data is zod's output value for value (strict objects, no transforms): no copy.
  const check = fastCheck(schema);
  const result =
    check !== undefined && check(data) ? { success: true as const, data } : schema.safeParse(data);
  if (seen === undefined) last.set(schema, { data, result });
  else {
    seen.data = data;
    seen.result = result;
  }
  return result as z.ZodSafeParseResult<T>;
}
