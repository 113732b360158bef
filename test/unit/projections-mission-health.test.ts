import { describe, expect, it } from 'vitest';
import {
  missionHealthProjection,
  replayProjection,
  rowKey,
  snapshot,
} from '../../projections/index.ts';
import {
  accepted,
  dispatchPayload,
  dispatched,
  given as missionGiven,
  missionIn,
} from './support/mission-given.ts';
import { EventLog, MISSION_ID, at, given, realisticLog } from './support/projection-given.ts';

const projection = missionHealthProjection;

describe('mission_health', () => {
  it('given nothing, when a mission is dispatched, then it is counted as queued', () => {
    const log = new EventLog();
    const then = given(projection, log).when(log.mission(MISSION_ID, dispatched()));
    expect(then.rows('mission_health_status_counts')).toEqual([
      { mission_type: 'coding', status: 'queued', missions: 1 },
    ]);
  });

  it('given a queued and a running mission, when the queued one is accepted, then it moves bucket', () => {
    const log = new EventLog();
    log.mission(MISSION_ID, ...missionIn('running'));
    log.mission(
      'msn_b',
      dispatched(dispatchPayload({ mission_id: 'msn_b', idempotency_key: 'd:b' })),
    );
    const before = given(projection, log);
    const then = before.when(
      log.mission('msn_b', accepted('mission.accepted', { mission_id: 'msn_b' })),
    );
    expect(then.rows('mission_health_status_counts')).toEqual([
      { mission_type: 'coding', status: 'running', missions: 2 },
    ]);
  });

  it('given a running mission, when progress keeps it running, then no counts change', () => {
    const log = new EventLog();
    log.mission(MISSION_ID, ...missionIn('running'));
    expect(
      given(projection, log).when(log.mission(MISSION_ID, accepted('mission.progress'))).changes,
    ).toEqual([]);
  });

  it('given a running mission, when it times out, then the outcome is counted in its UTC hour', () => {
    const log = new EventLog();
    log.mission(MISSION_ID, ...missionIn('running'));
    const before = given(projection, log);
    const then = before.when(
      log.mission(MISSION_ID, accepted('mission.timed_out', {}, '2025-11-20T23:59:59.000+00:00')),
    );
    expect(
      then.row('mission_health_outcomes', rowKey('coding', '2025-11-20T23:00:00.000Z')),
    ).toEqual({
      mission_type: 'coding',
      hour: '2025-11-20T23:00:00.000Z',
      completed: 0,
      failed: 0,
      cancelled: 0,
      timed_out: 1,
    });
    expect(then.rows('mission_health_status_counts')).toEqual([
      { mission_type: 'coding', status: 'timed_out', missions: 1 },
    ]);
  });

  it('given a closed mission, when another final event is replayed, then nothing is counted twice', () => {
    const log = new EventLog();
    log.mission(MISSION_ID, ...missionIn('completed'));
    expect(
      given(projection, log).when(log.mission(MISSION_ID, accepted('mission.failed'))).changes,
    ).toEqual([]);
  });

  it('given rejections, when a callback is rejected for two reasons, then each code counts once', () => {
    const log = new EventLog();
    const start = missionIn('running');
    log.mission(MISSION_ID, ...start);
    const rejected = missionGiven(start).whenCallback(
      { ...accepted('mission.progress').data.callback, vp_id: 'vp.other', trace_id: 'other-trace' },
      { received_at: at('09:30') },
    ).decision.events;
    const then = given(projection, log).when(log.mission(MISSION_ID, ...rejected));
    expect(then.rows('mission_health_rejections')).toEqual([
      {
        rejected_type: 'mission.callback_rejected',
        reason_code: 'IDENTITY_MISMATCH',
        rejections: 1,
      },
      { rejected_type: 'mission.callback_rejected', reason_code: 'TRACE_MISMATCH', rejections: 1 },
    ]);
  });

  it('given nothing, when ledger-rejections records a rejection, then it is counted', () => {
    const log = new EventLog();
    const rejection = missionGiven([]).whenDispatch({ nonsense: true }).decision.events[0]!;
    const then = given(projection, log).when(
      log.append('ledger-rejections', {
        ...rejection,
        data: { ...rejection.data, mission_id: null },
      }),
    );
    expect(then.rows('mission_health_rejections')).toEqual([
      { rejected_type: 'mission.dispatch_rejected', reason_code: 'SCHEMA_INVALID', rejections: 1 },
    ]);
  });

  it('a whole sequence: final buckets, outcomes per hour and rejections', () => {
    const model = snapshot(replayProjection(projection, realisticLog().events));
    expect(model.mission_health_status_counts).toEqual([
      { mission_type: 'coding', status: 'completed', missions: 1 },
      { mission_type: 'research', status: 'failed', missions: 1 },
    ]);
    expect(model.mission_health_outcomes).toMatchObject([
      { mission_type: 'coding', hour: '2025-11-20T10:00:00.000Z', completed: 1 },
      { mission_type: 'research', hour: '2025-11-20T11:00:00.000Z', failed: 1 },
    ]);
    expect(model.mission_health_rejections).toEqual([
      {
        rejected_type: 'mission.callback_rejected',
        reason_code: 'IDENTITY_MISMATCH',
        rejections: 1,
      },
      { rejected_type: 'mission.callback_rejected', reason_code: 'USAGE_DECREASED', rejections: 1 },
      { rejected_type: 'mission.dispatch_rejected', reason_code: 'SCHEMA_INVALID', rejections: 1 },
    ]);
  });
});
