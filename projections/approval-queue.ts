import {
  lifecycleEventTypeSchema,
  missionCallbackAcceptedDataSchema,
  missionDispatchedDataSchema,
  type MissionType,
} from '../schemas/index.ts';
import type { StoredEvent } from '../schemas/stored-event.ts';
import { isFinalStatus } from '../src/domain/mission/index.ts';
import {
  missionIdOfStream,
  parseEventData,
  type Lookup,
  type ProjectionFold,
  type RowChange,
} from './projection.ts';

/**
 * One row per mission that is blocked now, primary key `mission_id`. The row's age is computed
 * when it is read (`now - since`), never stored: replay must not read a clock.
 */
export interface ApprovalQueueRow {
  mission_id: string;
  /** `received_at` of the event that blocked the mission; kept while it stays blocked. */
  since: string;
  /** Summary of the latest `mission.blocked` event: what the mission waits for. */
  summary: string;
  vp_id: string;
  vp_session_id: string;
  target_instance_id: string;
  mission_type: MissionType;
  trace_id: string;
  /** `received_at` of the latest event that kept the mission blocked. */
  updated_at: string;
  last_position: number;
}

/**
 * What the queue needs to know of an open mission before it blocks (the dispatch's target and
 * type, which callbacks do not carry). Primary key `mission_id`.
 */
export interface ApprovalQueueMissionRow {
  mission_id: string;
  target_instance_id: string;
  mission_type: MissionType;
  /** Set by the first final event: the mission can never block again. */
  closed: boolean;
}

/** The tables of {@link approvalQueueProjection}. */
export interface ApprovalQueueTables {
  approval_queue: ApprovalQueueRow;
  approval_queue_missions: ApprovalQueueMissionRow;
}

const NAME = 'approval_queue';
const lifecycleTypes: ReadonlySet<string> = new Set(lifecycleEventTypeSchema.options);

/**
 * `approval_queue`: a mission enters the queue with the first accepted event that reports status
 * `blocked` and leaves it with the first that reports another status (back to running, or a final
 * status, which also closes it for good).
 */
export const approvalQueueProjection: ProjectionFold<ApprovalQueueTables> = {
  name: NAME,
  version: 1,
  tables: {
    approval_queue: { primaryKey: ['mission_id'], description: 'Missions blocked now.' },
    approval_queue_missions: {
      primaryKey: ['mission_id'],
      description: 'Dispatched missions: the dispatch facts queue rows need.',
    },
  },
  handles: (type) => type === 'mission.dispatched' || lifecycleTypes.has(type),
  prefetch(event) {
    const missionId = missionIdOfStream(event.stream);
    if (missionId === undefined) return [];
    return [
      { table: 'approval_queue_missions', key: missionId },
      { table: 'approval_queue', key: missionId },
    ];
  },
  apply(event: StoredEvent, lookup: Lookup<ApprovalQueueTables>): RowChange<ApprovalQueueTables>[] {
    const missionId = missionIdOfStream(event.stream);
    if (missionId === undefined) return [];
    const mission = lookup('approval_queue_missions', missionId);
    if (event.type === 'mission.dispatched') {
      // A second dispatch is ignored, as by the mission fold.
      if (mission !== undefined) return [];
      const { input } = parseEventData(NAME, event, missionDispatchedDataSchema);
      const row: ApprovalQueueMissionRow = {
        mission_id: missionId,
        target_instance_id: input.target_instance_id,
        mission_type: input.mission_type,
        closed: false,
      };
      return [{ table: 'approval_queue_missions', key: missionId, row }];
    }
    // Not dispatched, or closed already: nothing can change.
    if (!lifecycleTypes.has(event.type) || mission === undefined || mission.closed) return [];
    const { callback, received_at: receivedAt } = parseEventData(
      NAME,
      event,
      missionCallbackAcceptedDataSchema,
    );
    const queued = lookup('approval_queue', missionId);
    const changes: RowChange<ApprovalQueueTables>[] = [];
    if (callback.status === 'blocked') {
      const row: ApprovalQueueRow = {
        mission_id: missionId,
        since: queued?.since ?? receivedAt,
        summary:
          queued === undefined || event.type === 'mission.blocked'
            ? callback.summary
            : queued.summary,
        vp_id: callback.vp_id,
        vp_session_id: callback.vp_session_id,
        target_instance_id: mission.target_instance_id,
        mission_type: mission.mission_type,
        trace_id: callback.trace_id,
        updated_at: receivedAt,
        last_position: event.position,
      };
      changes.push({ table: 'approval_queue', key: missionId, row });
    } else if (queued !== undefined) {
      changes.push({ table: 'approval_queue', key: missionId, row: null });
    }
    if (isFinalStatus(callback.status)) {
      const closed: ApprovalQueueMissionRow = { ...mission, closed: true };
      changes.push({ table: 'approval_queue_missions', key: missionId, row: closed });
    }
    return changes;
  },
};
