import { z } from 'zod';

/*
 * Fields many answers share. Responses are rendered as the server writes them: the date-times
 * are `Date#toISOString()` or `received_at` values, so they are plain strings with a format.
 */

/** An instant as the ledger writes it (UTC, milliseconds). */
export const dateTime = z.string().meta({ format: 'date-time' });

/** A whole number >= 0: counts, revisions, positions. */
export const count = z.int().nonnegative();

/** A log position (1-based) or 0 for "none yet". */
export const logPosition = z.int().nonnegative();

/** The checkpoint of the projection a read was answered from. */
export const asOfPosition = logPosition.meta({
  description: "The projection's checkpoint in the snapshot the rows were read from.",
});

/** A page's continuation: pass it back as `cursor`; null on the last page. */
export const nextCursor = z
  .string()
  .nullable()
  .meta({ description: 'Pass as `cursor` for the next page; null on the last page.' });
