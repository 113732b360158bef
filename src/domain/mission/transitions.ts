import type { LifecycleEventType, MissionStatus } from '../../../schemas/index.ts';

/**
 * The lifecycle events a mission accepts in each status. Final statuses accept none: a closed
 * mission rejects every callback with `MISSION_CLOSED` instead.
 *
 * | from      | allowed event types                                                    |
 * | --------- | ---------------------------------------------------------------------- |
 * | queued    | accepted, failed, cancelled, timed_out                                 |
 * | running   | progress, blocked, artifact, completed, failed, cancelled, timed_out   |
 * | blocked   | progress (back to running), blocked, artifact, failed, cancelled, timed_out |
 */
export const allowedEventTypes: Readonly<Record<MissionStatus, readonly LifecycleEventType[]>> = {
  queued: ['mission.accepted', 'mission.failed', 'mission.cancelled', 'mission.timed_out'],
  running: [
    'mission.progress',
    'mission.blocked',
    'mission.artifact',
    'mission.completed',
    'mission.failed',
    'mission.cancelled',
    'mission.timed_out',
  ],
  blocked: [
    'mission.progress',
    'mission.blocked',
    'mission.artifact',
    'mission.failed',
    'mission.cancelled',
    'mission.timed_out',
  ],
  completed: [],
  failed: [],
  cancelled: [],
  timed_out: [],
};

/**
 * The status each lifecycle event type must report, and so the status the mission moves to.
 * `mission.artifact` reports an artifact without a change of its own: it may say `running` or
 * `blocked`.
 */
export const expectedStatuses: Readonly<Record<LifecycleEventType, readonly MissionStatus[]>> = {
  'mission.accepted': ['running'],
  'mission.progress': ['running'],
  'mission.blocked': ['blocked'],
  'mission.artifact': ['running', 'blocked'],
  'mission.completed': ['completed'],
  'mission.failed': ['failed'],
  'mission.cancelled': ['cancelled'],
  'mission.timed_out': ['timed_out'],
};

/** The lifecycle event types that close a mission: they must report a final status. */
export const finalEventTypes: readonly LifecycleEventType[] = [
  'mission.completed',
  'mission.failed',
  'mission.cancelled',
  'mission.timed_out',
];
