import { lifecycle, lifecycleEventTypes, missionStatuses } from '../../../schemas/lifecycle.ts';
import {
  finalStatuses,
  type LifecycleEventType,
  type MissionStatus,
} from '../../../schemas/index.ts';

/** A record with one entry per key. */
function mapOf<K extends string, V>(keys: readonly K[], value: (key: K) => V): Record<K, V> {
  const out = {} as Record<K, V>;
  for (const key of keys) out[key] = value(key);
  return out;
}

/*
 * The transition maps the callback rules read, derived from the one lifecycle table
 * (`schemas/lifecycle.ts`), in its order.
 */

/**
 * The lifecycle events a mission accepts in each status. Final statuses accept none: a closed
 * mission rejects every callback with `MISSION_CLOSED` instead.
 */
export const allowedEventTypes: Readonly<Record<MissionStatus, readonly LifecycleEventType[]>> =
  mapOf(missionStatuses, (status) =>
    lifecycleEventTypes.filter((type) =>
      (lifecycle[type].from as readonly MissionStatus[]).includes(status),
    ),
  );

/**
 * The status each lifecycle event type must report, and so the status the mission moves to.
 * `mission.artifact` reports an artifact without a change of its own: it may say `running` or
 * `blocked`.
 */
export const expectedStatuses: Readonly<Record<LifecycleEventType, readonly MissionStatus[]>> =
  mapOf(lifecycleEventTypes, (type) => lifecycle[type].reports);

/** The lifecycle event types that close a mission: every status they may report is final. */
export const finalEventTypes: readonly LifecycleEventType[] = lifecycleEventTypes.filter((type) =>
  (lifecycle[type].reports as readonly MissionStatus[]).every((status) =>
    (finalStatuses as readonly MissionStatus[]).includes(status),
  ),
);
