import { describe, expect, it } from 'vitest';
import { shippedProfiles } from '../../src/policy/shipped-profiles.ts';
import { OTHER_INSTANCE, TARGET_INSTANCE, TOKENS, useStoreAndApp } from '../support/http-app.ts';
import {
  callbackPayload,
  dispatchPayload,
  logHead,
  type Dispatch,
} from '../support/mission-fixtures.ts';
import { freshSchemaName, storeUrl } from '../support/postgres.ts';

/*
 * GET /v1/dashboards/policy over a log the API wrote: warnings under the development profile,
 * then blocks once an operator puts a profile enforcing the budget in force, counted per window.
 */

const operator = { token: TOKENS.operator };
const auditor = { token: TOKENS.auditor };

interface ProfileCounts {
  decided: number;
  rejected: number;
  rejection_ratio: number | null;
}

interface PolicyWindow {
  window_hours: number;
  since: string;
  rules: {
    rule: string;
    code: string;
    blocks: number;
    warnings: number;
    shadow_verdicts: number;
  }[];
  top_factories: { factory: string; blocks: number }[];
  profiles: (ProfileCounts & { profile_id: string })[];
  total: ProfileCounts;
}

interface PolicyDashboard {
  now: string;
  as_of_position: number;
  windows: PolicyWindow[];
}

/** Over the dispatch fixture's LLM-call budget (250) and emitted after its autonomy window. */
const OVER_BUDGET = { runtime_minutes: 1, llm_calls: 999, estimated_cost_usd: 1 };

/** The development profile with the budget rule enforced everywhere. */
function budgetEnforced() {
  const profile = structuredClone(shippedProfiles.development) as unknown as {
    id: string;
    rules: Record<string, Record<string, string>>;
  };
  profile.id = 'budget-enforced';
  profile.rules.budget = { development: 'enforce', staging: 'enforce', production: 'enforce' };
  return profile;
}

describe.each([
  ['PGlite', () => 'pglite:memory'],
  ['PostgreSQL', () => storeUrl(freshSchemaName('policy_dash'))],
])('GET /v1/dashboards/policy on %s', (_name, url) => {
  let clock = '2031-05-06T08:10:00.000Z';
  const suite = useStoreAndApp(url, { now: () => new Date(clock) });

  const dispatch = async (target: string): Promise<Dispatch> => {
    const body = dispatchPayload({ target_instance_id: target });
    const res = await suite.app.call('POST', '/v1/missions', { ...operator, body });
    expect(res.status, JSON.stringify(res.body)).toBe(201);
    return body;
  };

  /** An over-budget callback from `token`; returns the status and the codes answered. */
  const overBudget = async (
    mission: Dispatch,
    eventType: 'mission.accepted' | 'mission.progress',
    token: string,
  ) => {
    const body = callbackPayload(mission, {
      event_type: eventType,
      usage: OVER_BUDGET,
      overrides: { emitted_at: clock },
    });
    const res = await suite.app.call<{
      warnings?: { code: string }[];
      error?: { code: string };
    }>('POST', `/v1/missions/${mission.mission_id}/events`, { token, body });
    return {
      status: res.status,
      codes: res.body.error?.code ?? (res.body.warnings ?? []).map((w) => w.code).join(','),
    };
  };

  const dashboard = async (minPosition?: number) => {
    const query = minPosition === undefined ? '' : `?min_position=${minPosition}`;
    const res = await suite.app.call<PolicyDashboard>(
      'GET',
      `/v1/dashboards/policy${query}`,
      auditor,
    );
    expect(res.status, JSON.stringify(res.body)).toBe(200);
    return res.body;
  };

  it('counts warnings, then blocks after an enforcing profile is activated, per window', async () => {
    // 08:10, development: the budget and the autonomy window only warn.
    const first = await dispatch(TARGET_INSTANCE);
    const warned = 'BUDGET_EXCEEDED,OUTSIDE_AUTONOMY_WINDOW';
    expect(await overBudget(first, 'mission.accepted', TOKENS.factory)).toEqual({
      status: 201,
      codes: warned,
    });
    expect(await overBudget(first, 'mission.progress', TOKENS.factory)).toEqual({
      status: 201,
      codes: warned,
    });

    const switched = await suite.app.call('POST', '/v1/policy/activations', {
      ...operator,
      body: { profile: budgetEnforced() },
    });
    expect(switched.status, JSON.stringify(switched.body)).toBe(201);

    // 09:20, budget enforced: the same callbacks are blocked, for two factories.
    clock = '2031-05-06T09:20:00.000Z';
    const blocked = { status: 422, codes: 'BUDGET_EXCEEDED' };
    expect(await overBudget(first, 'mission.progress', TOKENS.factory)).toEqual(blocked);
    const second = await dispatch(OTHER_INSTANCE);
    expect(await overBudget(second, 'mission.accepted', TOKENS.otherFactory)).toEqual(blocked);
    expect(await overBudget(second, 'mission.accepted', TOKENS.otherFactory)).toEqual(blocked);

    const head = await logHead(suite.app);
    const body = await dashboard(head);
    expect(body.now).toBe(clock);
    expect(body.as_of_position).toBeGreaterThanOrEqual(head);

    const enforced = { profile_id: 'budget-enforced', decided: 4, rejected: 3 };
    const development = { profile_id: 'development', decided: 3, rejected: 0 };
    const topFactories = [
      { factory: OTHER_INSTANCE, blocks: 2 },
      { factory: TARGET_INSTANCE, blocks: 1 },
    ];
    const [hour, day, week] = body.windows;
    expect(hour).toEqual({
      window_hours: 1,
      since: '2031-05-06T09:00:00.000Z',
      rules: [
        {
          rule: 'autonomy_window',
          code: 'OUTSIDE_AUTONOMY_WINDOW',
          blocks: 0,
          warnings: 3,
          shadow_verdicts: 0,
        },
        { rule: 'budget', code: 'BUDGET_EXCEEDED', blocks: 3, warnings: 0, shadow_verdicts: 0 },
      ],
      top_factories: topFactories,
      profiles: [{ ...enforced, rejection_ratio: 0.75 }],
      total: { decided: 4, rejected: 3, rejection_ratio: 0.75 },
    });
    const allOfIt = {
      rules: [
        {
          rule: 'autonomy_window',
          code: 'OUTSIDE_AUTONOMY_WINDOW',
          blocks: 0,
          warnings: 5,
          shadow_verdicts: 0,
        },
        { rule: 'budget', code: 'BUDGET_EXCEEDED', blocks: 3, warnings: 2, shadow_verdicts: 0 },
      ],
      top_factories: topFactories,
      profiles: [
        { ...enforced, rejection_ratio: 0.75 },
        { ...development, rejection_ratio: 0 },
      ],
      total: { decided: 7, rejected: 3, rejection_ratio: 3 / 7 },
    };
    expect(day).toEqual({ window_hours: 24, since: '2031-05-05T10:00:00.000Z', ...allOfIt });
    expect(week).toEqual({ window_hours: 168, since: '2031-04-29T10:00:00.000Z', ...allOfIt });

    // A day later only the week still counts them; an empty window has no ratio.
    clock = '2031-05-07T09:30:00.000Z';
    const later = await dashboard();
    expect(later.windows.map((w) => w.total)).toEqual([
      { decided: 0, rejected: 0, rejection_ratio: null },
      { decided: 0, rejected: 0, rejection_ratio: null },
      allOfIt.total,
    ]);
    expect(later.windows[1]).toMatchObject({ rules: [], top_factories: [], profiles: [] });
  });

  it('answers operators and auditors only', async () => {
    expect((await suite.app.call('GET', '/v1/dashboards/policy', operator)).status).toBe(200);
    const factory = await suite.app.call('GET', '/v1/dashboards/policy', {
      token: TOKENS.factory,
    });
    expect(factory.status).toBe(403);
    expect((await suite.app.call('GET', '/v1/dashboards/policy')).status).toBe(401);
    const unknown = await suite.app.call('GET', '/v1/dashboards/policy?since=1', auditor);
    expect(unknown.status).toBe(400);
  });
});
