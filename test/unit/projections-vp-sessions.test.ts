import { describe, expect, it } from 'vitest';
import {
  replayProjection,
  rowKey,
  snapshot,
  vpSessionsProjection,
} from '../../projections/index.ts';
import { workspaceKey } from '../../src/domain/mission/index.ts';
import { dispatched } from './support/mission-given.ts';
import {
  EventLog,
  MISSION_ID,
  SECOND_MISSION,
  bind,
  given,
  realisticLog,
} from './support/projection-given.ts';

const projection = vpSessionsProjection;
const VP = 'vp.coder.primary';
const SESSION = 'vps_01JD8Z5YB2W9E4QK7TPM0RXAGD';
const KEY = rowKey(VP, SESSION);
const WS = workspaceKey(VP, SESSION);

describe('vp_sessions', () => {
  it('given nothing, when a mission is bound, then the session is registered with it', () => {
    const log = new EventLog();
    const then = given(projection, log).when(bind(log, MISSION_ID, '2025-11-20T08:58:42.100Z'));
    expect(then.row('vp_sessions', KEY)).toEqual({
      vp_id: VP,
      vp_session_id: SESSION,
      workspace_key: WS,
      vp_runtime_id: 'rt.coder.lane-2',
      mission_count: 1,
      first_mission_id: MISSION_ID,
      last_mission_id: MISSION_ID,
      registered_at: '2025-11-20T08:58:42.100Z',
      updated_at: '2025-11-20T08:58:42.100Z',
      last_position: 1,
    });
    expect(then.rows('vp_session_missions')).toEqual([
      {
        workspace_key: WS,
        mission_id: MISSION_ID,
        vp_runtime_id: 'rt.coder.lane-2',
        bound_at: '2025-11-20T08:58:42.100Z',
        position: 1,
      },
    ]);
  });

  it('given a session, when another mission binds on a new lane, then count, lane and times move', () => {
    const log = new EventLog();
    bind(log, MISSION_ID, '2025-11-20T08:58:42.100Z');
    const before = given(projection, log);
    const event = bind(log, 'msn_2', '2025-11-20T10:00:00.000Z', { vp_runtime_id: 'rt.lane-9' });
    expect(before.when(event).row('vp_sessions', KEY)).toMatchObject({
      vp_runtime_id: 'rt.lane-9',
      mission_count: 2,
      first_mission_id: MISSION_ID,
      last_mission_id: 'msn_2',
      registered_at: '2025-11-20T08:58:42.100Z',
      updated_at: '2025-11-20T10:00:00.000Z',
    });
  });

  it('given a binding, when the same mission is bound again, then nothing changes', () => {
    const log = new EventLog();
    bind(log, MISSION_ID, '2025-11-20T08:58:42.100Z');
    const before = given(projection, log);
    expect(before.when(bind(log, MISSION_ID, '2025-11-20T09:00:00.000Z')).changes).toEqual([]);
  });

  it('given nothing, when a mission is dispatched, then its session is registered; a legacy binding after it changes nothing', () => {
    const log = new EventLog();
    const event = log.mission(MISSION_ID, dispatched());
    const then = given(projection, new EventLog()).when(event);
    expect(then.row('vp_sessions', KEY)).toMatchObject({
      vp_id: VP,
      vp_session_id: SESSION,
      workspace_key: WS,
      mission_count: 1,
      first_mission_id: MISSION_ID,
      registered_at: event.metadata.recorded_at,
      last_position: event.position,
    });
    const before = given(projection, log);
    const binding = bind(log, MISSION_ID, '2025-11-20T09:00:00.000Z');
    expect(before.when(binding).changes).toEqual([]);
  });

  it('a whole sequence: one session, two missions, the latest lane', () => {
    const model = snapshot(replayProjection(projection, realisticLog().events));
    expect(model.vp_sessions).toMatchObject([
      {
        vp_id: VP,
        vp_session_id: SESSION,
        vp_runtime_id: 'rt.coder.lane-5',
        mission_count: 2,
        last_mission_id: SECOND_MISSION,
      },
    ]);
    expect(model.vp_session_missions).toHaveLength(2);
  });
});
