/**
 * The mission lifecycle (seed 002 §2-§4) as one table: the one home from which the event types,
 * the statuses, the allowed transitions, the status each event reports and the final events all
 * derive.
 *
 * | event type          | reports            | allowed from               |
 * | ------------------- | ------------------ | -------------------------- |
 * | `mission.accepted`  | running            | queued                     |
 * | `mission.progress`  | running            | running, blocked           |
 * | `mission.blocked`   | blocked            | running, blocked           |
 * | `mission.artifact`  | running or blocked | running, blocked           |
 * | `mission.completed` | completed          | running                    |
 * | `mission.failed`    | failed             | queued, running, blocked   |
 * | `mission.cancelled` | cancelled          | queued, running, blocked   |
 * | `mission.timed_out` | timed_out          | queued, running, blocked   |
 *
 * `queued` is where a dispatch leaves a mission; the four statuses no event leaves are final.
 */

/** Every status a mission can be in, in lifecycle order. */
export const missionStatuses = [
  'queued',
  'running',
  'blocked',
  'completed',
  'failed',
  'cancelled',
  'timed_out',
] as const;
type Status = (typeof missionStatuses)[number];

const OPEN = ['queued', 'running', 'blocked'] as const satisfies readonly Status[];
const WORKING = ['running', 'blocked'] as const satisfies readonly Status[];

/** Each lifecycle event type: the statuses it may report, and the statuses it may follow. */
export const lifecycle = {
  'mission.accepted': { reports: ['running'], from: ['queued'] },
  'mission.progress': { reports: ['running'], from: WORKING },
  'mission.blocked': { reports: ['blocked'], from: WORKING },
  'mission.artifact': { reports: ['running', 'blocked'], from: WORKING },
  'mission.completed': { reports: ['completed'], from: ['running'] },
  'mission.failed': { reports: ['failed'], from: OPEN },
  'mission.cancelled': { reports: ['cancelled'], from: OPEN },
  'mission.timed_out': { reports: ['timed_out'], from: OPEN },
} as const satisfies Record<string, { reports: readonly Status[]; from: readonly Status[] }>;
type EventType = keyof typeof lifecycle;

/** The eight lifecycle event types, in table order. */
export const lifecycleEventTypes = Object.keys(lifecycle) as [EventType, ...EventType[]];

/** The statuses no event type may follow: they close a mission (seed 002 §4.4). */
export const finalStatuses = missionStatuses.filter(
  (status) =>
    !Object.values(lifecycle).some((row) => (row.from as readonly Status[]).includes(status)),
) as ('completed' | 'failed' | 'cancelled' | 'timed_out')[];
