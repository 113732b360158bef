import { z } from 'zod';
import {
  isoDateTime,
  lifecycleEventTypeSchema,
  missionCallbackAcceptedDataSchema,
  missionDispatchedDataSchema,
  rejectionReasonSchema,
  type FinalStatus,
  type MissionStatus,
  type MissionType,
} from '../schemas/index.ts';
import type { StoredEvent } from '../schemas/stored-event.ts';
import { isFinalStatus } from '../src/domain/mission/index.ts';
import {
  missionIdOfStream,
  parseEventData,
  rowKey,
  utcHour,
  type Lookup,
  type ProjectionFold,
  type RowChange,
} from './projection.ts';
import { REJECTIONS_STREAM } from '../schemas/streams.ts';

/** Where the ledger records inputs that name no existing mission (`src/ledger/mission-ledger.ts`). */

/** The status of each dispatched mission, primary key `mission_id`: which bucket it is in. */
export interface MissionHealthMissionRow {
  mission_id: string;
  mission_type: MissionType;
  /** As in the mission fold: frozen by the first final event. */
  status: MissionStatus;
}

/**
 * How many missions of a type are in a status now, primary key (`mission_type`, `status`). A
 * transition moves a mission from one bucket to another; a bucket that empties is deleted.
 */
export interface MissionStatusCountRow {
  mission_type: MissionType;
  status: MissionStatus;
  missions: number;
}

/**
 * Rejected inputs by reason code, primary key (`rejected_type`, `reason_code`): from the
 * `mission.*_rejected` events of mission streams and of `ledger-rejections`. An event counts once
 * for each distinct code among its reasons.
 */
export interface RejectionCountRow {
  /** `mission.dispatch_rejected`, `mission.callback_rejected` or `mission.cancel_rejected`. */
  rejected_type: string;
  reason_code: string;
  rejections: number;
}

/**
 * Missions closed per type per UTC hour of the final event's `received_at`, primary key
 * (`mission_type`, `hour`); `hour` is `YYYY-MM-DDTHH:00:00.000Z`. Success is `completed`;
 * failure is `failed` and `timed_out`; `cancelled` is neither. Sum rows for longer windows.
 */
export interface MissionOutcomeRow {
  mission_type: MissionType;
  hour: string;
  completed: number;
  failed: number;
  cancelled: number;
  timed_out: number;
}

/** The tables of {@link missionHealthProjection}. */
export interface MissionHealthTables {
  mission_health_missions: MissionHealthMissionRow;
  mission_health_status_counts: MissionStatusCountRow;
  mission_health_rejections: RejectionCountRow;
  mission_health_outcomes: MissionOutcomeRow;
}

type Change = RowChange<MissionHealthTables>;

const NAME = 'mission_health';
const lifecycleTypes: ReadonlySet<string> = new Set(lifecycleEventTypeSchema.options);
const rejectionTypes: ReadonlySet<string> = new Set([
  'mission.dispatch_rejected',
  'mission.callback_rejected',
  'mission.cancel_rejected',
]);

/**
 * The part of a rejection event this projection reads. Loose: `ledger-rejections` events also
 * carry `mission_id`, and a cancel rejected there has the callback's shape, not the cancel's.
 */
const rejectionDataSchema = z.looseObject({
  reasons: z.array(rejectionReasonSchema).min(1),
  received_at: isoDateTime,
});

function moveBucket(
  lookup: Lookup<MissionHealthTables>,
  missionType: MissionType,
  status: MissionStatus,
  delta: 1 | -1,
): Change {
  const key = rowKey(missionType, status);
  const missions = (lookup('mission_health_status_counts', key)?.missions ?? 0) + delta;
  return {
    table: 'mission_health_status_counts',
    key,
    row: missions <= 0 ? null : { mission_type: missionType, status, missions },
  };
}

function countOutcome(
  lookup: Lookup<MissionHealthTables>,
  missionType: MissionType,
  status: FinalStatus,
  receivedAt: string,
): Change {
  const hour = utcHour(receivedAt);
  const key = rowKey(missionType, hour);
  const row: MissionOutcomeRow = lookup('mission_health_outcomes', key) ?? {
    mission_type: missionType,
    hour,
    completed: 0,
    failed: 0,
    cancelled: 0,
    timed_out: 0,
  };
  return { table: 'mission_health_outcomes', key, row: { ...row, [status]: row[status] + 1 } };
}

function rejections(event: StoredEvent, lookup: Lookup<MissionHealthTables>): Change[] {
  const { reasons } = parseEventData(NAME, event, rejectionDataSchema);
  const codes = [...new Set(reasons.map((reason) => reason.code))];
  return codes.map((code) => {
    const key = rowKey(event.type, code);
    const rejected = lookup('mission_health_rejections', key)?.rejections ?? 0;
    const row: RejectionCountRow = {
      rejected_type: event.type,
      reason_code: code,
      rejections: rejected + 1,
    };
    return { table: 'mission_health_rejections', key, row };
  });
}

/**
 * `mission_health`: mission counts by type and status, rejections by reason code, and outcomes
 * per type per UTC hour. Follows the mission fold: a second dispatch and anything after the
 * first final event leave the buckets alone.
 */
export const missionHealthProjection: ProjectionFold<MissionHealthTables> = {
  name: NAME,
  version: 1,
  tables: {
    mission_health_missions: {
      primaryKey: ['mission_id'],
      description: 'Each mission and the bucket it is counted in.',
    },
    mission_health_status_counts: {
      primaryKey: ['mission_type', 'status'],
      description: 'Missions per type and status.',
    },
    mission_health_rejections: {
      primaryKey: ['rejected_type', 'reason_code'],
      description: 'Rejected inputs per reason code.',
    },
    mission_health_outcomes: {
      primaryKey: ['mission_type', 'hour'],
      description: 'Closed missions per type, final status and UTC hour.',
    },
  },
  handles: (type) =>
    type === 'mission.dispatched' || lifecycleTypes.has(type) || rejectionTypes.has(type),
  prefetch(event) {
    const missionId = missionIdOfStream(event.stream);
    return missionId === undefined ? [] : [{ table: 'mission_health_missions', key: missionId }];
  },
  apply(event: StoredEvent, lookup: Lookup<MissionHealthTables>): Change[] {
    const missionId = missionIdOfStream(event.stream);
    if (rejectionTypes.has(event.type)) {
      const counted = missionId !== undefined || event.stream === REJECTIONS_STREAM;
      return counted ? rejections(event, lookup) : [];
    }
    if (missionId === undefined) return [];
    const mission = lookup('mission_health_missions', missionId);
    if (event.type === 'mission.dispatched') {
      if (mission !== undefined) return [];
      const { input } = parseEventData(NAME, event, missionDispatchedDataSchema);
      const row: MissionHealthMissionRow = {
        mission_id: missionId,
        mission_type: input.mission_type,
        status: 'queued',
      };
      return [
        { table: 'mission_health_missions', key: missionId, row },
        moveBucket(lookup, input.mission_type, 'queued', 1),
      ];
    }
    if (!lifecycleTypes.has(event.type) || mission === undefined || isFinalStatus(mission.status)) {
      return [];
    }
    const { callback, received_at: receivedAt } = parseEventData(
      NAME,
      event,
      missionCallbackAcceptedDataSchema,
    );
    const status = callback.status;
    if (status === mission.status) return [];
    const type = mission.mission_type;
    const changes: Change[] = [
      { table: 'mission_health_missions', key: missionId, row: { ...mission, status } },
      moveBucket(lookup, type, mission.status, -1),
      moveBucket(lookup, type, status, 1),
    ];
    if (isFinalStatus(status)) changes.push(countOutcome(lookup, type, status, receivedAt));
    return changes;
  },
};
