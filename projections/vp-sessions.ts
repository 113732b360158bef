import {
  missionBoundDataSchema,
  missionDispatchedDataSchema,
  type MissionBoundData,
} from '../schemas/mission-events.ts';
import type { StoredEvent } from '../schemas/stored-event.ts';
import {
  parseEventData,
  rowKey,
  type Lookup,
  type ProjectionFold,
  type RowChange,
} from './projection.ts';

/**
 * One row per VP session, primary key (`vp_id`, `vp_session_id`). Times are the binding events'
 * `metadata.recorded_at`.
 */
export interface VpSessionRow {
  vp_id: string;
  vp_session_id: string;
  workspace_key: string;
  /** The runtime lane of the latest mission bound to the session. */
  vp_runtime_id: string;
  mission_count: number;
  first_mission_id: string;
  last_mission_id: string;
  registered_at: string;
  updated_at: string;
  last_position: number;
}

/** One row per (session, mission) binding, primary key (`workspace_key`, `mission_id`). */
export interface VpSessionMissionRow {
  workspace_key: string;
  mission_id: string;
  vp_runtime_id: string;
  bound_at: string;
  position: number;
}

/** The tables of {@link vpSessionsProjection}. */
export interface VpSessionTables {
  vp_sessions: VpSessionRow;
  vp_session_missions: VpSessionMissionRow;
}

const NAME = 'vp_sessions';
const BOUND = 'vp_session.mission_bound';
const DISPATCHED = 'mission.dispatched';

const str = (v: unknown): v is string => typeof v === 'string';

/** The binding a `mission.dispatched` or a legacy `vp_session.mission_bound` states. */
function bindingOf(event: StoredEvent): MissionBoundData {
  if (event.type === BOUND) return parseEventData(NAME, event, missionBoundDataSchema);
  const data = parseEventData(NAME, event, missionDispatchedDataSchema);
  return {
    vp_id: data.input.vp_id,
    vp_session_id: data.vp_session_id,
    vp_runtime_id: data.input.vp_runtime_id,
    workspace_key: data.workspace_key,
    mission_id: data.input.mission_id,
  };
}

/**
 * `vp_sessions`: the VP session registry (seed 002 §1.1) as a table, folded from
 * `mission.dispatched`, so a dispatch is one append and never half applied. Legacy
 * `vp_session.mission_bound` events state the same binding again after their dispatch; a binding
 * already recorded for its mission changes nothing, so each mission counts once.
 */
export const vpSessionsProjection: ProjectionFold<VpSessionTables> = {
  name: NAME,
  version: 2,
  tables: {
    vp_sessions: {
      primaryKey: ['vp_id', 'vp_session_id'],
      description: 'One row per (vp_id, vp_session_id).',
    },
    vp_session_missions: {
      primaryKey: ['workspace_key', 'mission_id'],
      description: 'The missions bound to each session.',
      indexes: [['workspace_key', 'bound_at']],
    },
  },
  handles: (type) => type === DISPATCHED || type === BOUND,
  prefetch(event) {
    const d = event.data;
    const input = (event.type === DISPATCHED ? d.input : d) as Record<string, unknown> | null;
    const vpId = input?.vp_id;
    const missionId = input?.mission_id;
    if (!str(d.workspace_key) || !str(missionId) || !str(vpId) || !str(d.vp_session_id)) {
      return [];
    }
    return [
      { table: 'vp_session_missions', key: rowKey(d.workspace_key, missionId) },
      { table: 'vp_sessions', key: rowKey(vpId, d.vp_session_id) },
    ];
  },
  apply(event: StoredEvent, lookup: Lookup<VpSessionTables>): RowChange<VpSessionTables>[] {
    if (event.type !== BOUND && event.type !== DISPATCHED) return [];
    const data = bindingOf(event);
    const bindingKey = rowKey(data.workspace_key, data.mission_id);
    if (lookup('vp_session_missions', bindingKey) !== undefined) return [];
    const at = event.metadata.recorded_at;
    const sessionKey = rowKey(data.vp_id, data.vp_session_id);
    const session = lookup('vp_sessions', sessionKey);
    const row: VpSessionRow = {
      vp_id: data.vp_id,
      vp_session_id: data.vp_session_id,
      workspace_key: data.workspace_key,
      vp_runtime_id: data.vp_runtime_id,
      mission_count: (session?.mission_count ?? 0) + 1,
      first_mission_id: session?.first_mission_id ?? data.mission_id,
      last_mission_id: data.mission_id,
      registered_at: session?.registered_at ?? at,
      updated_at: at,
      last_position: event.position,
    };
    const binding: VpSessionMissionRow = {
      workspace_key: data.workspace_key,
      mission_id: data.mission_id,
      vp_runtime_id: data.vp_runtime_id,
      bound_at: at,
      position: event.position,
    };
    return [
      { table: 'vp_sessions', key: sessionKey, row },
      { table: 'vp_session_missions', key: bindingKey, row: binding },
    ];
  },
};
