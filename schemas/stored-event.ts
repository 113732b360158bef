import { z } from 'zod';
import { isoDateTime } from './primitives.ts';

/** A JSON object: the shape of every event's `data`. */
export const jsonObjectSchema = z.record(z.string(), z.unknown());

/**
 * Metadata the ledger keeps beside every event. `recorded_at` is stamped by the store when the
 * event commits; the rest comes from the appender.
 */
export const eventMetadataSchema = z.strictObject({
  trace_id: z.string().min(1).max(1024).optional(),
  /** Unique per stream: a retried append with the same key appends nothing. */
  idempotency_key: z.string().min(1).max(256).optional(),
  causation_id: z.string().min(1).max(1024).optional(),
  correlation_id: z.string().min(1).max(1024).optional(),
  /** Who caused the event, e.g. `operator:alice` or `factory:instance-7`. */
  actor: z.string().min(1).max(1024).optional(),
  recorded_at: isoDateTime,
});
export type EventMetadata = z.infer<typeof eventMetadataSchema>;

/** Metadata as an appender supplies it: everything but the store-stamped `recorded_at`. */
export const newEventMetadataSchema = eventMetadataSchema.omit({ recorded_at: true });
export type NewEventMetadata = z.infer<typeof newEventMetadataSchema>;

/**
 * The ledger's stored-event envelope: what every adapter returns from reads and subscriptions.
 *
 * - `revision` is the event's 0-based index within its stream.
 * - `position` is its place in the one global order. On PostgreSQL and PGlite positions are dense
 *   (1, 2, 3, ... with no holes); on EventStoreDB they are `$all` log positions: increasing, not dense.
 */
export const storedEventSchema = z.strictObject({
  id: z.uuid(),
  stream: z.string().min(1),
  revision: z.number().int().nonnegative(),
  position: z.number().int().positive(),
  type: z.string().min(1),
  data: jsonObjectSchema,
  metadata: eventMetadataSchema,
});
export type StoredEvent = z.infer<typeof storedEventSchema>;
