import type { z } from 'zod';
import { fastCheck } from './fast-check.ts';

type Results = WeakMap<object, z.ZodSafeParseResult<unknown>>;

/** Parse results by schema, then by data object. Weak: entries go with the data. */
const memo = new WeakMap<z.ZodType, Results>();

/**
 * `schema.safeParse(data)`, remembered per (schema, data object), and answered by the schema's
 * compiled {@link fastCheck} where it has one (zod still reports the issues of data it rejects). Several projections fold the
 * same stored event; when they share the event object (a rebuild reads each page once for all of
 * them) its data is validated once. Results are shared, so callers must not mutate them — which
 * the pure folds never do.
 */
export function safeParseStored<T>(schema: z.ZodType<T>, data: unknown): z.ZodSafeParseResult<T> {
  if (typeof data !== 'object' || data === null) return schema.safeParse(data);
  let results = memo.get(schema);
  if (results === undefined) memo.set(schema, (results = new WeakMap()));
  let result = results.get(data);
  if (result === undefined) {
    // Accepted data is zod's output value for value (strict objects, no transforms): no copy.
    const check = fastCheck(schema);
    result = check !== undefined && check(data) ? { success: true, data } : schema.safeParse(data);
    results.set(data, result);
  }
  return result as z.ZodSafeParseResult<T>;
}
