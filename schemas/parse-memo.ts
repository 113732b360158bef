import type { z } from 'zod';

/** Parse results by data object, then by schema. Weak: entries go with the data. */
const memo = new WeakMap<object, Map<z.ZodType, z.ZodSafeParseResult<unknown>>>();

/**
 * `schema.safeParse(data)`, remembered per (data object, schema). Several projections fold the
 * same stored event; when they share the event object (a rebuild reads each page once for all of
 * them) its data is validated once. Results are shared, so callers must not mutate them — which
 * the pure folds never do.
 */
export function safeParseStored<T>(schema: z.ZodType<T>, data: unknown): z.ZodSafeParseResult<T> {
  if (typeof data !== 'object' || data === null) return schema.safeParse(data);
  let bySchema = memo.get(data);
  if (bySchema === undefined) memo.set(data, (bySchema = new Map()));
  let result = bySchema.get(schema);
  if (result === undefined) {
    result = schema.safeParse(data);
    bySchema.set(schema, result);
  }
  return result as z.ZodSafeParseResult<T>;
}
