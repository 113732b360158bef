import { z } from 'zod';

/** An ISO-8601 date-time with an explicit offset (`Z` or `+hh:mm`), as seed 002 requires. */
export const isoDateTime = z.iso.datetime({ offset: true });

/** A non-empty identifier string. */
export const identifier = z.string().min(1).max(512);

/** A non-negative finite number: budgets and usage. */
export const nonNegative = z.number().nonnegative().finite();

/** A non-negative integer: counts such as LLM calls. */
export const nonNegativeInt = z.number().int().nonnegative();

/**
 * An idempotency key. Capped at the length `eventMetadataSchema` accepts, so a key that passes the
 * wire contract can always be carried into the ledger's event metadata.
 */
export const idempotencyKey = z.string().min(1).max(256);

/** A list of non-empty strings: tool names, criteria, artifact references. */
export const stringList = z.array(z.string().min(1));
