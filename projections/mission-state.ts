import {
  missionEventDataSchemas,
  type ArtifactIndexEntry,
  type FinalStatus,
  type LifecycleEventType,
  type MissionDispatch,
  type MissionStatus,
  type MissionType,
} from '../schemas/index.ts';
import type { StoredEvent } from '../schemas/stored-event.ts';
import {
  evolveMission,
  type MissionState,
  type PendingCommand,
} from '../src/domain/mission/index.ts';
import {
  foldingEvent,
  missionIdOfStream,
  type Lookup,
  type ProjectionFold,
  type RowChange,
} from './projection.ts';

/**
 * One row per mission: the fold of its `mission-{id}` stream (`evolveMission`), flattened for
 * reading. Primary key `mission_id`. Times are the ledger's receive times (`received_at`).
 */
export interface MissionStateRow {
  mission_id: string;
  /** `queued` after the dispatch, then the status of the latest accepted callback. */
  status: MissionStatus;
  mission_type: MissionType;
  vp_id: string;
  /** The dispatch's session, or the one the ledger allocated. */
  vp_session_id: string;
  vp_runtime_id: string;
  workspace_key: string;
  source_instance_id: string;
  target_instance_id: string;
  trace_id: string;
  dispatched_at: string;
  /** `received_at` of the latest event of the stream that changed the mission. */
  updated_at: string;
  /** `received_at` of the first accepted final event; `null` while open. */
  closed_at: string | null;
  latest_event_type: LifecycleEventType | null;
  latest_summary: string | null;
  latest_emitted_at: string | null;
  latest_received_at: string | null;
  usage_runtime_minutes: number;
  usage_llm_calls: number;
  usage_cost_usd: number;
  /** Union of the accepted callbacks' `artifact_refs`, first-seen order. */
  artifacts: string[];
  final_status: FinalStatus | null;
  final_event_type: LifecycleEventType | null;
  final_summary: string | null;
  final_next_action: string | null;
  final_artifact_index: ArtifactIndexEntry[] | null;
  /** Accepted cancel requests no final event has closed yet. */
  pending_commands: PendingCommand[];
  accepted_count: number;
  rejected_count: number;
  /** Global position and stream revision of the latest event that changed the row. */
  last_position: number;
  last_revision: number;
}

/**
 * The dispatch of a mission as accepted, primary key `mission_id`: the rest of the fold's input
 * (objective, budget, constraints, ...). Written once, with the mission's first row; kept apart
 * because it never changes while the state row is rewritten by every callback.
 */
export interface MissionDispatchRow {
  mission_id: string;
  dispatch: MissionDispatch;
}

/** The tables of {@link missionStateProjection}. */
export interface MissionStateTables {
  mission_state: MissionStateRow;
  mission_dispatches: MissionDispatchRow;
}

const NAME = 'mission_state';
const handled: ReadonlySet<string> = new Set(Object.keys(missionEventDataSchemas));

const finalEventType: Record<FinalStatus, LifecycleEventType> = {
  completed: 'mission.completed',
  failed: 'mission.failed',
  cancelled: 'mission.cancelled',
  timed_out: 'mission.timed_out',
};

/** The row of a mission state; `previous` keeps `closed_at`, `event` is the event just applied. */
export function missionStateRow(
  state: MissionState,
  previous: MissionStateRow | undefined,
  event: Pick<StoredEvent, 'position' | 'revision'>,
): MissionStateRow {
  const { dispatch, last_event: last, final } = state;
  // The dispatch itself is in `mission_dispatches`; the row keeps what reads filter on.
  return {
    mission_id: state.mission_id,
    status: state.status,
    mission_type: dispatch.mission_type,
    vp_id: dispatch.vp_id,
    vp_session_id: state.vp_session_id,
    vp_runtime_id: dispatch.vp_runtime_id,
    workspace_key: state.workspace_key,
    source_instance_id: dispatch.source_instance_id,
    target_instance_id: state.target_instance_id,
    trace_id: state.trace_id,
    dispatched_at: state.dispatched_at,
    updated_at: state.updated_at,
    closed_at: previous?.closed_at ?? (final === null ? null : state.updated_at),
    latest_event_type: last?.type ?? null,
    latest_summary: last?.summary ?? null,
    latest_emitted_at: last?.emitted_at ?? null,
    latest_received_at: last?.received_at ?? null,
    usage_runtime_minutes: state.usage.runtime_minutes,
    usage_llm_calls: state.usage.llm_calls,
    usage_cost_usd: state.usage.estimated_cost_usd,
    artifacts: state.artifacts,
    final_status: final?.status ?? null,
    final_event_type: final === null ? null : finalEventType[final.status],
    final_summary: final?.summary ?? null,
    final_next_action: final?.next_action ?? null,
    final_artifact_index: final?.artifact_index ?? null,
    pending_commands: state.pending_commands,
    accepted_count: state.accepted_count,
    rejected_count: state.rejected_count,
    last_position: event.position,
    last_revision: event.revision,
  };
}

/** The fold state a row (with its mission's dispatch) was made of: the inverse of {@link missionStateRow}. */
export function missionStateOfRow(row: MissionStateRow, dispatch: MissionDispatch): MissionState {
  return {
    mission_id: row.mission_id,
    status: row.status,
    dispatch,
    vp_session_id: row.vp_session_id,
    workspace_key: row.workspace_key,
    trace_id: row.trace_id,
    target_instance_id: row.target_instance_id,
    usage: {
      runtime_minutes: row.usage_runtime_minutes,
      llm_calls: row.usage_llm_calls,
      estimated_cost_usd: row.usage_cost_usd,
    },
    budget: dispatch.budget,
    last_event:
      row.latest_event_type === null
        ? null
        : {
            type: row.latest_event_type,
            summary: row.latest_summary!,
            emitted_at: row.latest_emitted_at!,
            received_at: row.latest_received_at!,
          },
    artifacts: row.artifacts,
    final:
      row.final_status === null
        ? null
        : {
            status: row.final_status,
            summary: row.final_summary!,
            next_action: row.final_next_action,
            artifact_index: row.final_artifact_index,
          },
    pending_commands: row.pending_commands,
    accepted_count: row.accepted_count,
    rejected_count: row.rejected_count,
    dispatched_at: row.dispatched_at,
    updated_at: row.updated_at,
  };
}

/**
 * `mission_state`: one row per mission (and its dispatch, apart), the `evolveMission` fold of its
 * stream. Reads every event
 * type of a `mission-{id}` stream; rejections recorded in `ledger-rejections` name no existing
 * mission and are ignored. Events the fold ignores (a second dispatch, anything before the
 * dispatch) change nothing.
 */
export const missionStateProjection: ProjectionFold<MissionStateTables> = {
  name: NAME,
  // 2: the dispatch moved out of the state row into `mission_dispatches`.
  version: 2,
  tables: {
    mission_state: {
      primaryKey: ['mission_id'],
      description: 'One row per dispatched mission.',
      // GET /v1/missions: newest dispatch first, optionally filtered by one of these columns.
      indexes: [
        ['dispatched_at'],
        ['status', 'dispatched_at'],
        ['mission_type', 'dispatched_at'],
        ['vp_id', 'dispatched_at'],
      ],
    },
    mission_dispatches: {
      primaryKey: ['mission_id'],
      description: 'The accepted dispatch of each mission, written once.',
    },
  },
  handles: (type) => handled.has(type),
  prefetch(event) {
    const missionId = missionIdOfStream(event.stream);
    return missionId === undefined
      ? []
      : [
          { table: 'mission_state', key: missionId },
          { table: 'mission_dispatches', key: missionId },
        ];
  },
  apply(event: StoredEvent, lookup: Lookup<MissionStateTables>): RowChange<MissionStateTables>[] {
    const missionId = missionIdOfStream(event.stream);
    if (!handled.has(event.type) || missionId === undefined) return [];
    const previous = lookup('mission_state', missionId);
    let before: MissionState | undefined;
    if (previous !== undefined) {
      const dispatch = lookup('mission_dispatches', missionId);
      if (dispatch === undefined) {
        throw new Error(`mission_dispatches has no row for mission ${missionId}.`);
      }
      before = missionStateOfRow(previous, dispatch.dispatch);
    }
    const after = foldingEvent(NAME, event, () => evolveMission(before, event));
    if (after === undefined || after === before) return [];
    const changes: RowChange<MissionStateTables>[] = [
      { table: 'mission_state', key: missionId, row: missionStateRow(after, previous, event) },
    ];
    if (before === undefined) {
      changes.push({
        table: 'mission_dispatches',
        key: missionId,
        row: { mission_id: missionId, dispatch: after.dispatch },
      });
    }
    return changes;
  },
};
