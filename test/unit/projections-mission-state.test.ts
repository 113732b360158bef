import { describe, expect, it } from 'vitest';
import {
  missionStateOfRow,
  missionStateProjection,
  replayProjection,
  snapshot,
  type MissionDispatchRow,
  type MissionStateRow,
} from '../../projections/index.ts';
import { foldMission } from '../../src/domain/mission/index.ts';
import { accepted, dispatched, given as missionGiven, missionIn } from './support/mission-given.ts';
import { EventLog, MISSION_ID, at, given, realisticLog } from './support/projection-given.ts';

const projection = missionStateProjection;

describe('mission_state', () => {
  it('given nothing, when a mission is dispatched, then a queued row with its identity', () => {
    const log = new EventLog();
    const then = given(projection, log).when(log.mission(MISSION_ID, dispatched()));
    expect(then.row('mission_state', MISSION_ID)).toMatchObject({
      mission_id: MISSION_ID,
      status: 'queued',
      mission_type: 'coding',
      vp_id: 'vp.coder.primary',
      vp_session_id: 'vps_01JD8Z5YB2W9E4QK7TPM0RXAGD',
      vp_runtime_id: 'rt.coder.lane-2',
      source_instance_id: 'simone-cp-eu1',
      target_instance_id: 'ua-factory-07',
      trace_id: '4bf92f3577b34da6a3ce929d0e0e4736',
      dispatched_at: '2025-11-20T08:58:42.000Z',
      updated_at: '2025-11-20T08:58:42.000Z',
      closed_at: null,
      latest_summary: null,
      final_event_type: null,
      accepted_count: 0,
      rejected_count: 0,
      last_position: 1,
      last_revision: 0,
    } satisfies Partial<MissionStateRow>);
  });

  it('given a running mission, when it blocks, then status, summary, usage and position move', () => {
    const log = new EventLog();
    log.mission(MISSION_ID, ...missionIn('running'));
    const running = given(projection, log);
    const event = log.mission(
      MISSION_ID,
      accepted('mission.blocked', { summary: 'Needs approval.' }, at('09:20')),
    );
    expect(running.when(event).row('mission_state', MISSION_ID)).toMatchObject({
      status: 'blocked',
      latest_event_type: 'mission.blocked',
      latest_summary: 'Needs approval.',
      latest_received_at: at('09:20'),
      updated_at: at('09:20'),
      usage_llm_calls: 2,
      accepted_count: 2,
      last_position: 3,
    });
  });

  it('given a running mission, when a callback is rejected, then only the rejected count moves', () => {
    const log = new EventLog();
    const start = missionIn('running');
    log.mission(MISSION_ID, ...start);
    const rejected = missionGiven(start).whenCallback(
      { ...accepted('mission.progress').data.callback, vp_id: 'vp.intruder' },
      { received_at: at('09:30') },
    ).decision.events;
    const then = given(projection, log).when(log.mission(MISSION_ID, ...rejected));
    expect(then.row('mission_state', MISSION_ID)).toMatchObject({
      status: 'running',
      accepted_count: 1,
      rejected_count: 1,
      updated_at: at('09:30'),
    });
  });

  it('given a running mission, when it completes, then it closes with the final event', () => {
    const log = new EventLog();
    log.mission(MISSION_ID, ...missionIn('running'));
    const then = given(projection, log).when(
      log.mission(
        MISSION_ID,
        accepted('mission.completed', { artifact_refs: ['patch.diff'] }, at('10:00')),
      ),
    );
    expect(then.row('mission_state', MISSION_ID)).toMatchObject({
      status: 'completed',
      closed_at: at('10:00'),
      final_status: 'completed',
      final_event_type: 'mission.completed',
      final_summary: 'mission.completed summary',
      final_next_action: 'Review and merge the patch.',
      final_artifact_index: [{ ref: 'patch.diff', description: 'The change' }],
      artifacts: ['patch.diff'],
    });
  });

  it('given nothing, when a rejection lands in ledger-rejections or before a dispatch, then no rows', () => {
    const log = new EventLog();
    const rejection = missionGiven([]).whenDispatch({ nonsense: true }).decision.events[0]!;
    expect(given(projection, log).when(log.append('ledger-rejections', rejection)).changes).toEqual(
      [],
    );
    expect(given(projection, log).when(log.mission(MISSION_ID, rejection)).changes).toEqual([]);
  });

  it('given a dispatched mission, when a second dispatch arrives, then nothing changes', () => {
    const log = new EventLog();
    log.mission(MISSION_ID, dispatched());
    expect(given(projection, log).when(log.mission(MISSION_ID, dispatched())).changes).toEqual([]);
  });

  it('a whole mission: the row is the domain fold of its stream, plus closing facts', () => {
    const log = realisticLog();
    const tables = snapshot(replayProjection(projection, log.events));
    const rows = tables.mission_state as MissionStateRow[];
    const dispatches = tables.mission_dispatches as MissionDispatchRow[];
    expect(dispatches.map((d) => d.mission_id)).toEqual(rows.map((row) => row.mission_id));
    expect(rows.map((row) => [row.mission_id, row.status])).toEqual([
      [MISSION_ID, 'completed'],
      ['msn_01JD9A0RESEARCH0000000000B', 'failed'],
    ]);
    for (const row of rows) {
      const stream = log.events.filter((event) => event.stream === `mission-${row.mission_id}`);
      const dispatch = dispatches.find((d) => d.mission_id === row.mission_id)!.dispatch;
      expect(missionStateOfRow(row, dispatch)).toEqual(foldMission(stream));
      expect(row.last_position).toBe(stream.at(-1)!.position);
    }
    expect(rows[0]).toMatchObject({
      closed_at: at('10:05'),
      artifacts: ['patch.diff', 'test-report.json', 'summary.md'],
      accepted_count: 6,
      rejected_count: 1,
      pending_commands: [],
      usage_cost_usd: 4.25,
    });
  });
});
