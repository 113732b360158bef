import { z } from 'zod';
import { storedEventSchema } from '../../../schemas/index.ts';
import { count, logPosition } from './fields.ts';

const events = z.array(storedEventSchema);

/** `GET /v1/events`: the global log in position order. */
export const eventsPageSchema = z
  .object({
    events,
    next_cursor: z.string().nullable().meta({
      description: 'The last position of the page; null when the page reached the head.',
    }),
    next_after: logPosition.meta({
      deprecated: true,
      description: 'Deprecated: the last position of the page (or `after` when it is empty).',
    }),
  })
  .meta({ id: 'EventsPage', description: 'A page of the global log.' });
export type EventsPage = z.infer<typeof eventsPageSchema>;

/** `GET /v1/missions/{id}/events`: one mission's stream in revision order. */
export const timelinePageSchema = z
  .object({
    mission_id: z.string(),
    events,
    next_cursor: z.string().nullable().meta({
      description: 'The last revision of the page; null on the last page.',
    }),
    next_from_revision: count.meta({
      deprecated: true,
      description: 'Deprecated: the first revision of the next page.',
    }),
  })
  .meta({ id: 'TimelinePage', description: "A page of a mission's timeline." });
export type TimelinePage = z.infer<typeof timelinePageSchema>;
