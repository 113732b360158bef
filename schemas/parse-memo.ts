import type { z } from 'zod';

type Results = WeakMap<object, z.ZodSafeParseResult<unknown>>;

/** Parse results by schema, then by data object. Weak: entries go with the data. */
const memo = new WeakMap<z.ZodType, Results>();

/**
 * `schema.safeParse(data)`, remembered per (schema, data object). Several projections fold the
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
    result = schema.safeParse(data);
    results.set(data, result);
  }
  return result as z.ZodSafeParseResult<T>;
}
