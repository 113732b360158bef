/** A JSON object: the shape of every event's `data`. Values are `unknown` so zod-inferred types fit. */
export type JsonObject = Record<string, unknown>;
