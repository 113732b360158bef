import { describe, expect, it } from 'vitest';
import { budgetsProjection, replayProjection, snapshot } from '../../projections/index.ts';
import { accepted, dispatchPayload, dispatched } from './support/mission-given.ts';
import {
  EventLog,
  MISSION_ID,
  SECOND_MISSION,
  at,
  given,
  realisticLog,
} from './support/projection-given.ts';

const projection = budgetsProjection;
const usage = (runtime_minutes: number, llm_calls: number, estimated_cost_usd: number) => ({
  usage: { runtime_minutes, llm_calls, estimated_cost_usd },
});

describe('budgets', () => {
  it('given nothing, when a mission is dispatched, then its budget with zero usage', () => {
    const log = new EventLog();
    const then = given(projection, log).when(log.mission(MISSION_ID, dispatched()));
    expect(then.rows('budgets')).toEqual([
      {
        mission_id: MISSION_ID,
        mission_type: 'coding',
        max_runtime_minutes: 90,
        max_llm_calls: 250,
        max_cost_usd: 12.5,
        used_runtime_minutes: 0,
        used_llm_calls: 0,
        used_cost_usd: 0,
        runtime_pct: 0,
        llm_calls_pct: 0,
        cost_pct: 0,
        runtime_breached: false,
        llm_calls_breached: false,
        cost_breached: false,
        any_breached: false,
        updated_at: '2025-11-20T08:58:42.000Z',
        last_position: 1,
      },
    ]);
  });

  it('given a dispatched mission, when usage is reported, then percentages follow it', () => {
    const log = new EventLog();
    log.mission(MISSION_ID, dispatched());
    const before = given(projection, log);
    const event = log.mission(
      MISSION_ID,
      accepted('mission.accepted', usage(45, 25, 1), at('09:45')),
    );
    expect(before.when(event).row('budgets', MISSION_ID)).toMatchObject({
      used_runtime_minutes: 45,
      runtime_pct: 50,
      llm_calls_pct: 10,
      cost_pct: 8,
      any_breached: false,
      updated_at: at('09:45'),
      last_position: 2,
    });
  });

  it('given a running mission, when usage passes a ceiling, then that dimension is breached', () => {
    const log = new EventLog();
    log.mission(MISSION_ID, dispatched(), accepted('mission.accepted', usage(1, 1, 1)));
    const before = given(projection, log);
    const event = log.mission(MISSION_ID, accepted('mission.progress', usage(90, 251, 12.5)));
    expect(before.when(event).row('budgets', MISSION_ID)).toMatchObject({
      runtime_breached: false, // reaching the ceiling is not passing it
      llm_calls_breached: true,
      cost_breached: false,
      any_breached: true,
      llm_calls_pct: 100.4,
      runtime_pct: 100,
    });
  });

  it('given a zero ceiling, when anything is used, then its percentage is null and it is breached', () => {
    const log = new EventLog();
    const budget = { max_runtime_minutes: 0, max_llm_calls: 0, max_cost_usd: 0 };
    log.mission(MISSION_ID, dispatched(dispatchPayload({ budget })));
    const then = given(projection, log).when(
      log.mission(MISSION_ID, accepted('mission.accepted', usage(0, 0, 0.01))),
    );
    expect(then.row('budgets', MISSION_ID)).toMatchObject({
      runtime_pct: null,
      llm_calls_pct: null,
      cost_pct: null,
      runtime_breached: false,
      cost_breached: true,
      any_breached: true,
    });
  });

  it('given nothing, when a callback arrives for an unknown mission, then no rows', () => {
    const log = new EventLog();
    expect(
      given(projection, log).when(log.mission(MISSION_ID, accepted('mission.accepted'))).changes,
    ).toEqual([]);
  });

  it('a whole sequence: the coding mission within budget, the research mission over it', () => {
    const rows = snapshot(replayProjection(projection, realisticLog().events)).budgets;
    expect(rows).toMatchObject([
      {
        mission_id: MISSION_ID,
        runtime_pct: 45.56,
        llm_calls_pct: 48,
        cost_pct: 34,
        any_breached: false,
      },
      {
        mission_id: SECOND_MISSION,
        llm_calls_pct: 130,
        cost_pct: null,
        runtime_breached: false,
        llm_calls_breached: true,
        cost_breached: true,
        any_breached: true,
        updated_at: at('11:15'),
      },
    ]);
  });
});
