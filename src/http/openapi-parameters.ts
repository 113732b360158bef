import { z } from 'zod';
import { missionStatusSchema, missionTypeSchema } from '../../schemas/index.ts';
import { DEFAULT_LIMIT, MAX_LIMIT } from './query-params.ts';

/*
 * The parameters of the operations in `openapi-operations.ts`, as zod schemas that zod-openapi
 * renders. They describe what the routes accept; the routes parse the strings themselves
 * (`query-params.ts`), so these are documentation of that parsing, not a second parser.
 */

const position = z.int().nonnegative();

/** A position-like cursor: the decimal `next_cursor` a page returned, passed back as it is. */
const positionCursor = z.string().regex(/^\d{1,16}$/);

/** `{id}`: a mission id. */
export const missionIdPath = z.object({ id: z.string().meta({ description: 'The mission id.' }) });

/** `limit`: the page size. */
export const limit = z.int().min(1).max(MAX_LIMIT).default(DEFAULT_LIMIT).optional();

/** `cursor` of the keyset-paged read-model lists. */
export const keysetCursor = z
  .string()
  .optional()
  .meta({ description: 'Opaque: the `next_cursor` of the previous page.' });

/** `min_position`: read-your-writes on a projection. */
export const minPosition = position.optional().meta({
  description:
    'Read-your-writes: wait (up to LEDGER_MIN_POSITION_WAIT_MS) until the projection has applied this log position, e.g. the `position` a command returned; 503 PROJECTION_LAGGING or PROJECTION_STALLED with Retry-After otherwise.',
});

/** A deprecated alias of `cursor`, kept working; never together with `cursor`. */
export const deprecatedAlias = (description: string) =>
  position.optional().meta({ param: { deprecated: true }, description });

/** The query of `GET /v1/missions`. */
export const missionListQuery = z.object({
  status: missionStatusSchema.optional().meta({ description: 'Only missions in this status.' }),
  mission_type: missionTypeSchema.optional().meta({ description: 'Only missions of this type.' }),
  vp_id: z.string().min(1).optional().meta({ description: 'Only missions of this VP.' }),
  limit,
  cursor: keysetCursor,
  min_position: minPosition,
});

/** The query of `GET /v1/missions/{id}/events`. */
export const timelineQuery = z.object({
  cursor: positionCursor.optional().meta({
    description: 'The `next_cursor` of the previous page (the last revision it held).',
  }),
  from_revision: deprecatedAlias('Deprecated alias: the first revision wanted (default 0).'),
  limit,
});

/** The query of `GET /v1/events`. */
export const eventsQuery = z.object({
  cursor: positionCursor.optional().meta({
    description:
      'Return events after this log position: the `next_cursor` of the previous page, or any position seen (default 0).',
  }),
  after: deprecatedAlias('Deprecated alias of cursor.'),
  limit,
});

/** The query of `GET /v1/events/stream`. */
export const eventStreamQuery = z.object({
  cursor: positionCursor.optional().meta({
    description: 'Resume after this position when no Last-Event-ID is sent (default 0).',
  }),
  after: deprecatedAlias('Deprecated alias of cursor.'),
});

/** The headers of `GET /v1/events/stream`. */
export const eventStreamHeaders = z.object({
  'Last-Event-ID': z
    .string()
    .optional()
    .meta({ description: 'Resume after this position; wins over the query.' }),
});

/** The headers of `POST /v1/missions/{id}/cancel`. */
export const cancelHeaders = z.object({
  'Idempotency-Key': z.string().min(1).max(256).optional().meta({
    description: 'Deduplicates a retried cancel; without it every cancel is a new request.',
  }),
});

/** `{vp_id}/{vp_session_id}`. */
export const vpSessionPath = z.object({ vp_id: z.string(), vp_session_id: z.string() });

/** `{mission_id}` of the budget route. */
export const budgetPath = z.object({ mission_id: z.string() });

/** A query of `min_position` alone. */
export const minPositionQuery = z.object({ min_position: minPosition });

/** The `Retry-After` header of a 503. */
export const retryAfterHeaders = z.object({
  'Retry-After': z.int().positive().meta({ description: 'Seconds to wait; 1 for a 503.' }),
});

/** `{key_id}`: a signing key id. */
export const keyIdPath = z.object({
  key_id: z.string().meta({ description: 'The signing key id.' }),
});

/** The query of `GET /v1/keys`. */
export const keyListQuery = z.object({ limit, cursor: keysetCursor });

/** The headers of the key registry's commands. */
export const keyCommandHeaders = z.object({
  'Idempotency-Key': z.string().min(1).max(256).optional().meta({
    description:
      'Deduplicates a retry; a retry of a registration or revocation already in force is answered as a duplicate without it too.',
  }),
});

/** The optional signature of a dispatch or callback (see docs/api.md, Signed inputs). */
export const signatureHeaders = z.object({
  'Ledger-Signature': z.string().optional().meta({
    description:
      'A compact detached JWS (EdDSA, kid = a registered key of the sender) over the RFC 8785 canonical body. Required where the policy in force enforces the signature rule.',
  }),
});
