/**
 * Freezes a JSON value and everything it holds, and returns it. The memory store hands the same
 * objects to every reader, so they must be immutable: a reader that tries to change one gets a
 * TypeError (ES modules are strict) instead of silently changing the log. Recursion is bounded
 * because `prepareAppend` refuses data nested deeper than 256 levels.
 */
export function deepFreeze<T>(value: T): T {
  if (typeof value !== 'object' || value === null) return value;
  if (Array.isArray(value)) {
    for (const item of value as unknown[]) deepFreeze(item);
  } else {
    for (const key of Object.keys(value)) deepFreeze((value as Record<string, unknown>)[key]);
  }
  return Object.freeze(value);
}
