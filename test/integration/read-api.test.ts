import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { MissionStatus, MissionType, MissionUsage } from '../../schemas/index.ts';
import type { missionView } from '../../src/http/mission-routes.ts';
import { openStore } from '../../src/store/open-store.ts';
import type { EventStore } from '../../src/store/port.ts';
import {
  TOKENS,
  startApp,
  type ApiError,
  type CallResult,
  type TestApp,
} from '../support/http-app.ts';
import {
  callbackPayload,
  dispatchPayload,
  logHead,
  type CallbackOptions,
  type Dispatch,
} from '../support/mission-fixtures.ts';
import { dropSchemas, freshSchemaName, storeUrl } from '../support/postgres.ts';

type View = ReturnType<typeof missionView>;
interface MissionList {
  missions: View[];
  next_cursor: string | null;
  as_of_position: number;
}
interface Approvals {
  approvals: (Record<string, unknown> & { mission_id: string; age_seconds: number })[];
  next_cursor: string | null;
  as_of_position: number;
  now: string;
}
interface OutcomeCounts {
  completed: number;
  failed: number;
  cancelled: number;
  timed_out: number;
  closed: number;
  success_rate: number | null;
  failure_rate: number | null;
}
interface Health {
  now: string;
  as_of_position: number;
  status_counts: { mission_type: string; status: string; missions: number }[];
  outcomes: {
    window_hours: number;
    since: string;
    mission_types: (OutcomeCounts & { mission_type: string })[];
    total: OutcomeCounts;
  }[];
  rejections: { rejected_type: string; reason_code: string; rejections: number }[];
}

const PROJECTIONS = [
  'mission_state',
  'budgets',
  'vp_sessions',
  'approval_queue',
  'mission_health',
  'policy_decisions',
];

/** A store and an app on it whose receive clock the test sets. */
interface Harness {
  store: EventStore;
  app: TestApp;
  /** Sets the app's clock. */
  at(iso: string): void;
  dispatch(overrides?: Record<string, unknown>): Promise<{ d: Dispatch; position: number }>;
  callback(d: Dispatch, options: CallbackOptions): Promise<number>;
  get<T = Record<string, unknown>>(
    path: string,
    token?: string,
  ): Promise<CallResult<T & { error?: ApiError }>>;
  close(): Promise<void>;
}

async function harness(url: string, start: string): Promise<Harness> {
  let clock = Date.parse(start);
  const store = await openStore(url);
  const app = await startApp({ store, now: () => new Date(clock) });
  return {
    store,
    app,
    at: (iso) => {
      clock = Date.parse(iso);
    },
    async dispatch(overrides = {}) {
      const d = dispatchPayload(overrides);
      const res = await app.call('POST', '/v1/missions', { token: TOKENS.operator, body: d });
      expect(res.status, JSON.stringify(res.body)).toBe(201);
      return { d, position: res.body.position! };
    },
    async callback(d, options) {
      const res = await app.call('POST', `/v1/missions/${d.mission_id}/events`, {
        token: TOKENS.factory,
        body: callbackPayload(d, options),
      });
      expect(res.status, JSON.stringify(res.body)).toBe(201);
      return res.body.position!;
    },
    get: (path, token = TOKENS.operator) => app.call('GET', path, { token }),
    async close() {
      await app.close();
      await store.close();
    },
  };
}

const usage = (runtime: number, calls: number, cost: number): MissionUsage => ({
  runtime_minutes: runtime,
  llm_calls: calls,
  estimated_cost_usd: cost,
});

const cursorOf = (sort: string, key: string) =>
  Buffer.from(JSON.stringify([sort, key])).toString('base64url');

describe.each([
  ['PGlite', () => 'pglite:memory'],
  ['PostgreSQL', () => storeUrl(freshSchemaName('rapi'))],
])('Read API over HTTP on %s', (_name, url) => {
  afterAll(async () => {
    await dropSchemas();
  });

  // ------------------------------------------------------------------ the mission list

  describe('GET /v1/missions', () => {
    let h: Harness;
    const tag = randomUUID().slice(0, 8);
    const vpA = `vp.read.a.${tag}`;
    const vpB = `vp.read.b.${tag}`;
    const types: MissionType[] = ['coding', 'research', 'automation', 'coding'];
    /** Ids are not in dispatch order, so the key tie-break is observable. */
    const suffixes = ['f', 'c', 'j', 'a', 'l', 'h', 'b', 'k', 'd', 'i', 'g', 'e'];
    interface Seeded {
      id: string;
      type: MissionType;
      vp: string;
      at: string;
      status: MissionStatus;
    }
    const seeded: Seeded[] = [];
    let head = 0;

    /** Newest dispatch first; equal dispatch times by mission id, descending. */
    const newestFirst = (rows: Seeded[]) =>
      [...rows]
        .sort((x, y) =>
          x.at === y.at ? (x.id < y.id ? 1 : -1) : Date.parse(y.at) - Date.parse(x.at),
        )
        .map((r) => r.id);
    const ids = (list: MissionList) => list.missions.map((m) => m.mission_id);
    const list = (query: string) => h.get<MissionList>(`/v1/missions${query}`);

    beforeAll(async () => {
      h = await harness(url(), '2031-03-04T10:00:00.000Z');
      for (let i = 0; i < 12; i += 1) {
        // Two missions per second: pairs share their dispatch time.
        const at = new Date(Date.parse('2031-03-04T10:00:00.000Z') + Math.floor(i / 2) * 1000);
        h.at(at.toISOString());
        const row: Seeded = {
          id: `msn_read_${tag}_${suffixes[i]!}`,
          type: types[i % 4]!,
          vp: i % 3 === 0 ? vpB : vpA,
          at: at.toISOString(),
          status: 'queued',
        };
        const { d } = await h.dispatch({
          mission_id: row.id,
          mission_type: row.type,
          vp_id: row.vp,
        });
        if ([1, 4, 7, 10].includes(i)) {
          await h.callback(d, { event_type: 'mission.accepted' });
          row.status = 'running';
        }
        if (i === 7) {
          await h.callback(d, { event_type: 'mission.blocked' });
          row.status = 'blocked';
        }
        if (i === 10) {
          await h.callback(d, { event_type: 'mission.completed' });
          row.status = 'completed';
        }
        seeded.push(row);
      }
      head = await logHead(h.app);
      await h.app.readModels.waitFor('mission_state', head, 10_000);
    });
    afterAll(async () => {
      await h?.close();
    });

    it('lists every mission newest dispatch first, each as GET /v1/missions/{id} shows it', async () => {
      const res = await list('');
      expect(res.status, JSON.stringify(res.body)).toBe(200);
      expect(ids(res.body)).toEqual(newestFirst(seeded));
      expect(res.body.next_cursor).toBeNull();
      expect(res.body.as_of_position).toBe(head);
      for (const mission of res.body.missions) {
        const single = await h.get<View>(`/v1/missions/${mission.mission_id}`);
        expect(mission).toEqual(single.body);
      }
      const blocked = res.body.missions.find((m) => m.mission_id === seeded[7]!.id)!;
      expect(blocked).toMatchObject({
        status: 'blocked',
        mission_type: 'coding',
        identity: { vp_id: vpA },
        dispatched_at: '2031-03-04T10:00:03.000Z',
        counts: { accepted: 2, rejected: 0 },
        revision: 2,
      });
    });

    it('filters by status, by mission_type and by vp_id', async () => {
      for (const status of ['queued', 'running', 'blocked', 'completed', 'failed'] as const) {
        const res = await list(`?status=${status}`);
        expect(res.status).toBe(200);
        expect(ids(res.body), status).toEqual(
          newestFirst(seeded.filter((r) => r.status === status)),
        );
      }
      expect(ids((await list('?status=running')).body)).toEqual([seeded[4]!.id, seeded[1]!.id]);
      for (const type of ['coding', 'research', 'automation', 'custom'] as const) {
        const res = await list(`?mission_type=${type}`);
        expect(ids(res.body), type).toEqual(newestFirst(seeded.filter((r) => r.type === type)));
      }
      expect((await list('?mission_type=custom')).body.missions).toEqual([]);
      const byVp = await list(`?vp_id=${encodeURIComponent(vpB)}`);
      expect(ids(byVp.body)).toEqual(newestFirst(seeded.filter((r) => r.vp === vpB)));
      expect(ids(byVp.body)).toHaveLength(4);
    });

    it('combines filters with AND', async () => {
      const res = await list(`?status=queued&mission_type=coding&vp_id=${vpA}`);
      const expected = newestFirst(
        seeded.filter((r) => r.status === 'queued' && r.type === 'coding' && r.vp === vpA),
      );
      expect(expected).toEqual([seeded[11]!.id, seeded[8]!.id]);
      expect(ids(res.body)).toEqual(expected);
      const none = await list(`?status=completed&vp_id=${vpB}`);
      expect(none.body.missions).toEqual([]);
      const one = await list(`?status=completed&mission_type=automation&vp_id=${vpA}`);
      expect(ids(one.body)).toEqual([seeded[10]!.id]);
    });

    it('pages with the cursor: no repeats, no gaps, the same order', async () => {
      for (const [query, limit] of [
        ['', 5],
        ['', 1],
        [`&vp_id=${vpA}&mission_type=coding`, 2],
        ['&status=queued', 3],
      ] as const) {
        const pages: string[][] = [];
        let cursor: string | null = null;
        do {
          const res: CallResult<MissionList> = await list(
            `?limit=${limit}${query}${cursor === null ? '' : `&cursor=${cursor}`}`,
          );
          expect(res.status, JSON.stringify(res.body)).toBe(200);
          pages.push(ids(res.body));
          cursor = res.body.next_cursor;
          expect(pages.length).toBeLessThan(20);
        } while (cursor !== null);
        const all = pages.flat();
        const full = ids((await list(`?limit=500${query}`)).body);
        expect(all, query).toEqual(full);
        expect(new Set(all).size).toBe(all.length);
        expect(pages.slice(0, -1).every((p) => p.length === limit)).toBe(true);
        expect(pages.at(-1)!.length).toBeGreaterThan(0);
      }
      const five = await list('?limit=5');
      expect(five.body.next_cursor).not.toBeNull();
      const pages = [ids(five.body)];
      const second = await list(`?limit=5&cursor=${five.body.next_cursor}`);
      const third = await list(`?limit=5&cursor=${second.body.next_cursor}`);
      pages.push(ids(second.body), ids(third.body));
      expect(pages.map((p) => p.length)).toEqual([5, 5, 2]);
      expect(third.body.next_cursor).toBeNull();
      expect(pages.flat()).toEqual(newestFirst(seeded));
    });

    it('starts after the cursor position: the cursor is base64url of [dispatched_at, mission_id]', async () => {
      // Between the two missions dispatched at 10:00:02: only the one with the smaller id follows.
      const tied = seeded.filter((r) => r.at === '2031-03-04T10:00:02.000Z').map((r) => r.id);
      const larger = [...tied].sort().at(-1)!;
      const res = await list(`?cursor=${cursorOf('2031-03-04T10:00:02.000Z', larger)}`);
      expect(ids(res.body)).toEqual(
        newestFirst(seeded).slice(newestFirst(seeded).indexOf(larger) + 1),
      );
      expect(ids(res.body)[0]).toBe([...tied].sort()[0]);
      expect(ids(res.body)).toHaveLength(5);
    });

    it('answers 400 INVALID_ARGUMENT naming a bad parameter', async () => {
      const cases: [string, string][] = [
        ['?status=done', 'status'],
        ['?status=', 'status'],
        ['?status=queued&status=running', 'status'],
        ['?mission_type=poetry', 'mission_type'],
        ['?cursor=not*base64', 'cursor'],
        [`?cursor=${Buffer.from('{"a":1}').toString('base64url')}`, 'cursor'],
        [`?cursor=${cursorOf('yesterday', 'msn_1')}`, 'cursor'],
        [`?cursor=${Buffer.from('[1,2').toString('base64url')}`, 'cursor'],
        ['?limit=0', 'limit'],
        ['?limit=1001', 'limit'],
        ['?limit=ten', 'limit'],
        ['?min_position=-1', 'min_position'],
        ['?sort=asc', 'sort'],
        ['?statuses=running', 'statuses'],
      ];
      for (const [query, name] of cases) {
        const res = await list(query);
        expect(res.status, query).toBe(400);
        expect(res.body.error?.code, query).toBe('INVALID_ARGUMENT');
        expect(res.body.error?.message, query).toContain(name);
        // One details shape for every refused parameter: it is named in `parameter`.
        expect(res.body.error?.details.parameter, query).toBe(name);
      }
      const unknown = await list('?sort=asc');
      expect(unknown.body.error?.details).toMatchObject({
        parameter: 'sort',
      });
      const status = await list('?status=done');
      expect(status.body.error?.details).toEqual({
        parameter: 'status',
        value: 'done',
        allowed: ['queued', 'running', 'blocked', 'completed', 'failed', 'cancelled', 'timed_out'],
      });
      const repeated = await list('?status=queued&status=running');
      expect(repeated.body.error?.details).toEqual({
        parameter: 'status',
        value: ['queued', 'running'],
      });
      expect((await list('?limit=1000')).status).toBe(200);
    });
  });

  // ------------------------------------------------------------------ consistency, budgets, roles

  describe('read-your-writes, budgets, roles and /v1/projections', () => {
    let h: Harness;
    beforeAll(async () => {
      h = await harness(url(), '2031-05-06T07:08:09.000Z');
    });
    afterAll(async () => {
      await h?.close();
    });

    it('sees a dispatch at once with min_position = the position it returned', async () => {
      const vp = `vp.ryw.${randomUUID().slice(0, 8)}`;
      const seen: string[] = [];
      for (let i = 0; i < 8; i += 1) {
        const { d, position } = await h.dispatch({ vp_id: vp });
        seen.unshift(d.mission_id);
        const res = await h.get<MissionList>(`/v1/missions?vp_id=${vp}&min_position=${position}`);
        expect(res.status, JSON.stringify(res.body)).toBe(200);
        expect(res.body.as_of_position).toBeGreaterThanOrEqual(position);
        // Same dispatch time for all: newest by id desc.
        expect(res.body.missions.map((m) => m.mission_id)).toEqual([...seen].sort().reverse());
        const budget = await h.get(`/v1/budgets/${d.mission_id}?min_position=${position}`);
        expect(budget.status).toBe(200);
      }
    });

    it('answers 503 PROJECTION_LAGGING with Retry-After when min_position is not reached in time', async () => {
      const quick = await startApp({
        store: h.store,
        readModels: h.app.readModels,
        minPositionWaitMs: 50,
      });
      try {
        const head = await logHead(h.app);
        const far = head + 1_000_000;
        for (const path of [
          '/v1/missions',
          '/v1/budgets/msn_nope',
          '/v1/dashboards/approvals',
          '/v1/dashboards/mission-health',
          '/v1/dashboards/policy',
        ]) {
          const started = performance.now();
          const res = await quick.call('GET', `${path}?min_position=${far}`, {
            token: TOKENS.auditor,
          });
          expect(res.status, path).toBe(503);
          expect(res.headers.get('retry-after'), path).toBe('1');
          expect(res.body.error?.code, path).toBe('PROJECTION_LAGGING');
          expect(res.body.error?.details).toMatchObject({ min_position: far });
          expect(performance.now() - started).toBeLessThan(3_000);
        }
        const ok = await quick.call('GET', `/v1/missions?min_position=${head}`, {
          token: TOKENS.auditor,
        });
        expect(ok.status).toBe(200);
        expect(ok.headers.get('retry-after')).toBeNull();
      } finally {
        await quick.close();
      }
    });

    it('reports usage against budget after callbacks', async () => {
      h.at('2031-05-06T08:00:00.000Z');
      const { d } = await h.dispatch({
        mission_type: 'research',
        budget: { max_runtime_minutes: 90, max_llm_calls: 250, max_cost_usd: 12.5 },
      });
      await h.callback(d, { event_type: 'mission.accepted', usage: usage(45, 50, 2.5) });
      h.at('2031-05-06T08:30:00.000Z');
      const position = await h.callback(d, {
        event_type: 'mission.progress',
        usage: usage(100, 50, 12.5),
      });
      const res = await h.get(`/v1/budgets/${d.mission_id}?min_position=${position}`);
      expect(res.status, JSON.stringify(res.body)).toBe(200);
      expect(res.body).toEqual({
        mission_id: d.mission_id,
        mission_type: 'research',
        usage: {
          runtime_minutes: { used: 100, max: 90, percent: 111.11, breached: true },
          llm_calls: { used: 50, max: 250, percent: 20, breached: false },
          estimated_cost_usd: { used: 12.5, max: 12.5, percent: 100, breached: false },
        },
        any_breached: true,
        updated_at: '2031-05-06T08:30:00.000Z',
        last_position: position,
        as_of_position: res.body.as_of_position,
      });
      expect(res.body.as_of_position).toBeGreaterThanOrEqual(position);
      // One set of names and one arithmetic: the mission view shows the same figures.
      const view = await h.get(`/v1/missions/${d.mission_id}`);
      expect(view.body.usage).toEqual(res.body.usage);

      const missing = await h.get(`/v1/budgets/msn_never_dispatched?min_position=${position}`);
      expect(missing.status).toBe(404);
      expect(missing.body.error?.code).toBe('MISSION_NOT_FOUND');
      const unknown = await h.get(`/v1/budgets/${d.mission_id}?limit=3`);
      expect(unknown.status).toBe(400);
      expect(unknown.body.error?.code).toBe('INVALID_ARGUMENT');
    });

    it('serves reads to operators and auditors only', async () => {
      const paths = [
        '/v1/missions',
        '/v1/budgets/msn_x',
        '/v1/dashboards/approvals',
        '/v1/dashboards/mission-health',
        '/v1/projections',
      ];
      for (const path of paths) {
        for (const token of [TOKENS.factory, TOKENS.otherFactory]) {
          const res = await h.get(path, token);
          expect(res.status, path).toBe(403);
          expect(res.body.error?.code, path).toBe('FORBIDDEN');
        }
        const anonymous = await h.app.call('GET', path);
        expect(anonymous.status, path).toBe(401);
        const auditor = await h.get(path, TOKENS.auditor);
        expect(auditor.status, path).toBe(path.startsWith('/v1/budgets') ? 404 : 200);
      }
    });

    it('reports each projection, the head and the lag; readyz shows the projections too', async () => {
      const head = await logHead(h.app);
      for (const name of PROJECTIONS) await h.app.readModels.waitFor(name, head, 10_000);
      const res = await h.get<{
        head_position: number;
        projections: Record<string, unknown>[];
      }>('/v1/projections', TOKENS.auditor);
      expect(res.status).toBe(200);
      expect(res.body).toEqual({
        head_position: head,
        projections: PROJECTIONS.map((name) => ({
          name,
          position: head,
          status: 'running',
          error: null,
          active: true,
          lag: 0,
        })),
      });
      const ready = await h.app.call<{ status: string; projections: { name: string }[] }>(
        'GET',
        '/v1/readyz',
      );
      expect(ready.status).toBe(200);
      expect(ready.body.status).toBe('ready');
      expect(ready.body.projections.map((p) => p.name)).toEqual(PROJECTIONS);
      expect(ready.body.projections[0]).toMatchObject({ position: head, status: 'running' });
      const bad = await h.get('/v1/projections?verbose=1');
      expect(bad.status).toBe(400);
    });
  });

  // ------------------------------------------------------------------ approvals dashboard

  describe('GET /v1/dashboards/approvals', () => {
    let h: Harness;
    beforeAll(async () => {
      h = await harness(url(), '2031-07-01T09:00:00.000Z');
    });
    afterAll(async () => {
      await h?.close();
    });

    it('lists blocked missions oldest first with their age at read time, until they resume', async () => {
      const { d: first } = await h.dispatch({ mission_type: 'automation' });
      const { d: second } = await h.dispatch();
      const { d: open } = await h.dispatch();
      await h.callback(first, { event_type: 'mission.accepted' });
      await h.callback(second, { event_type: 'mission.accepted' });
      await h.callback(open, { event_type: 'mission.accepted' });
      h.at('2031-07-01T09:01:00.000Z');
      await h.callback(first, {
        event_type: 'mission.blocked',
        overrides: { summary: 'Needs approval for git.push' },
      });
      h.at('2031-07-01T09:05:00.000Z');
      await h.callback(first, {
        event_type: 'mission.blocked',
        overrides: { summary: 'Still waiting for git.push' },
      });
      h.at('2031-07-01T09:03:00.000Z');
      let position = await h.callback(second, { event_type: 'mission.blocked' });
      h.at('2031-07-01T09:03:05.900Z');

      const res = await h.get<Approvals>(`/v1/dashboards/approvals?min_position=${position}`);
      expect(res.status, JSON.stringify(res.body)).toBe(200);
      expect(res.body.now).toBe('2031-07-01T09:03:05.900Z');
      expect(res.body.as_of_position).toBeGreaterThanOrEqual(position);
      expect(res.body.next_cursor).toBeNull();
      expect(res.body.approvals).toEqual([
        {
          mission_id: first.mission_id,
          since: '2031-07-01T09:01:00.000Z',
          summary: 'Still waiting for git.push',
          vp_id: first.vp_id,
          vp_session_id: first.vp_session_id,
          target_instance_id: first.target_instance_id,
          mission_type: 'automation',
          trace_id: first.trace_id,
          updated_at: '2031-07-01T09:05:00.000Z',
          last_position: expect.any(Number) as unknown,
          age_seconds: 125,
        },
        expect.objectContaining({
          mission_id: second.mission_id,
          since: '2031-07-01T09:03:00.000Z',
          age_seconds: 5,
        }) as unknown,
      ]);

      // Paged: one per page, in the same order.
      const page1 = await h.get<Approvals>('/v1/dashboards/approvals?limit=1');
      expect(page1.body.approvals.map((a) => a.mission_id)).toEqual([first.mission_id]);
      const page2 = await h.get<Approvals>(
        `/v1/dashboards/approvals?limit=1&cursor=${page1.body.next_cursor}`,
      );
      expect(page2.body.approvals.map((a) => a.mission_id)).toEqual([second.mission_id]);
      expect(page2.body.next_cursor).toBeNull();

      // The clock moves: ages follow, nothing is stored.
      h.at('2031-07-01T10:01:00.000Z');
      const later = await h.get<Approvals>('/v1/dashboards/approvals');
      expect(later.body.approvals.map((a) => a.age_seconds)).toEqual([3600, 3480]);

      position = await h.callback(first, { event_type: 'mission.progress' });
      const resumed = await h.get<Approvals>(`/v1/dashboards/approvals?min_position=${position}`);
      expect(resumed.body.approvals.map((a) => a.mission_id)).toEqual([second.mission_id]);

      const bad = await h.get('/v1/dashboards/approvals?cursor=zzz');
      expect(bad.status).toBe(400);
      expect(bad.body.error?.code).toBe('INVALID_ARGUMENT');
    });
  });

  // ------------------------------------------------------------------ mission-health dashboard

  describe('GET /v1/dashboards/mission-health', () => {
    let h: Harness;
    beforeAll(async () => {
      h = await harness(url(), '2031-09-10T10:20:30.000Z');
    });
    afterAll(async () => {
      await h?.close();
    });

    const counts = (c: Partial<OutcomeCounts>) => {
      const all = { completed: 0, failed: 0, cancelled: 0, timed_out: 0, ...c };
      const closed = all.completed + all.failed + all.cancelled + all.timed_out;
      return {
        ...all,
        closed,
        success_rate: closed === 0 ? null : all.completed / closed,
        failure_rate: closed === 0 ? null : (all.failed + all.timed_out) / closed,
      };
    };
    const window = (health: Health, hours: number) =>
      health.outcomes.find((w) => w.window_hours === hours)!;
    const byType = (health: Health, hours: number) =>
      Object.fromEntries(window(health, hours).mission_types.map((t) => [t.mission_type, t]));

    it('counts statuses, outcomes per window with rates, and rejections', async () => {
      const started = async (type: MissionType) => {
        const { d } = await h.dispatch({ mission_type: type });
        await h.callback(d, { event_type: 'mission.accepted' });
        return d;
      };
      // 10:20:30, hour 10: one coding mission completes.
      const c1 = await started('coding');
      await h.callback(c1, { event_type: 'mission.completed' });
      // 12:20:30, hour 12: more close.
      h.at('2031-09-10T12:20:30.000Z');
      const c2 = await started('coding');
      await h.callback(c2, { event_type: 'mission.failed' });
      const c3 = await started('coding');
      await h.callback(c3, { event_type: 'mission.completed' });
      const r1 = await started('research');
      await h.callback(r1, { event_type: 'mission.timed_out' });
      const r2 = await started('research');
      await h.callback(r2, { event_type: 'mission.cancelled' });
      await started('coding');
      const { position } = await h.dispatch({ mission_type: 'automation' });

      h.at('2031-09-10T12:59:59.999Z');
      const res = await h.get<Health>(`/v1/dashboards/mission-health?min_position=${position}`);
      expect(res.status, JSON.stringify(res.body)).toBe(200);
      const health = res.body;
      expect(health.now).toBe('2031-09-10T12:59:59.999Z');
      expect(health.as_of_position).toBeGreaterThanOrEqual(position);
      expect(health.status_counts).toEqual([
        { mission_type: 'automation', status: 'queued', missions: 1 },
        { mission_type: 'coding', status: 'completed', missions: 2 },
        { mission_type: 'coding', status: 'failed', missions: 1 },
        { mission_type: 'coding', status: 'running', missions: 1 },
        { mission_type: 'research', status: 'cancelled', missions: 1 },
        { mission_type: 'research', status: 'timed_out', missions: 1 },
      ]);
      expect(health.outcomes.map((w) => [w.window_hours, w.since])).toEqual([
        [1, '2031-09-10T12:00:00.000Z'],
        [24, '2031-09-09T13:00:00.000Z'],
        [168, '2031-09-03T13:00:00.000Z'],
      ]);
      // The last hour: hour 12 only.
      expect(byType(health, 1)).toEqual({
        coding: { mission_type: 'coding', ...counts({ completed: 1, failed: 1 }) },
        research: { mission_type: 'research', ...counts({ cancelled: 1, timed_out: 1 }) },
        automation: { mission_type: 'automation', ...counts({}) },
        custom: { mission_type: 'custom', ...counts({}) },
      });
      expect(byType(health, 1).research!.success_rate).toBe(0);
      expect(byType(health, 1).research!.failure_rate).toBe(0.5);
      expect(byType(health, 1).automation!.success_rate).toBeNull();
      expect(window(health, 1).total).toEqual(
        counts({ completed: 1, failed: 1, cancelled: 1, timed_out: 1 }),
      );
      expect(window(health, 1).total).toMatchObject({ success_rate: 0.25, failure_rate: 0.5 });
      // 24 and 168 hours: hour 10 as well.
      for (const hours of [24, 168]) {
        expect(byType(health, hours).coding).toEqual({
          mission_type: 'coding',
          ...counts({ completed: 2, failed: 1 }),
        });
        expect(window(health, hours).total).toMatchObject({
          completed: 2,
          closed: 5,
          success_rate: 0.4,
          failure_rate: 0.4,
        });
      }
      expect(health.rejections).toEqual([]);

      // Hour 11 of the next day: the 24-hour window starts at 12:00 today, so hour 10 left it.
      h.at('2031-09-11T11:00:00.000Z');
      const nextDay = (await h.get<Health>('/v1/dashboards/mission-health')).body;
      expect(window(nextDay, 1).total.closed).toBe(0);
      expect(window(nextDay, 24).since).toBe('2031-09-10T12:00:00.000Z');
      expect(window(nextDay, 24).total).toEqual(
        counts({ completed: 1, failed: 1, cancelled: 1, timed_out: 1 }),
      );
      expect(window(nextDay, 168).total.closed).toBe(5);
      // A week later hour 10 is gone from every window; hour 12 is the 168-hour window's first.
      h.at('2031-09-17T12:30:00.000Z');
      const week = (await h.get<Health>('/v1/dashboards/mission-health')).body;
      expect(window(week, 168).since).toBe('2031-09-10T13:00:00.000Z');
      expect(window(week, 168).total.closed).toBe(0);
      h.at('2031-09-17T11:59:59.000Z');
      const justInside = (await h.get<Health>('/v1/dashboards/mission-health')).body;
      expect(window(justInside, 168).total.closed).toBe(4);

      // Rejections: a callback to a closed mission, one with a wrong trace, one for no mission.
      const closed = await h.app.call('POST', `/v1/missions/${c1.mission_id}/events`, {
        token: TOKENS.factory,
        body: callbackPayload(c1, { event_type: 'mission.progress' }),
      });
      expect(closed.status).toBe(409);
      const c4 = await started('coding');
      const wrongTrace = await h.app.call('POST', `/v1/missions/${c4.mission_id}/events`, {
        token: TOKENS.factory,
        body: callbackPayload(c4, {
          event_type: 'mission.progress',
          overrides: { trace_id: 'ffffffffffffffffffffffffffffffff' },
        }),
      });
      expect(wrongTrace.status).toBe(422);
      const again = await h.app.call('POST', `/v1/missions/${c2.mission_id}/events`, {
        token: TOKENS.factory,
        body: callbackPayload(c2, { event_type: 'mission.progress' }),
      });
      expect(again.status).toBe(409);
      const ghost = dispatchPayload();
      const nobody = await h.app.call('POST', `/v1/missions/${ghost.mission_id}/events`, {
        token: TOKENS.factory,
        body: callbackPayload(ghost, { event_type: 'mission.accepted' }),
      });
      expect(nobody.status).toBe(404);
      const head = await logHead(h.app);
      const after = await h.get<Health>(`/v1/dashboards/mission-health?min_position=${head}`);
      expect(after.body.as_of_position).toBe(head);
      expect(after.body.rejections).toEqual([
        {
          rejected_type: 'mission.callback_rejected',
          reason_code: 'MISSION_CLOSED',
          rejections: 2,
        },
        {
          rejected_type: 'mission.callback_rejected',
          reason_code: 'MISSION_NOT_FOUND',
          rejections: 1,
        },
        {
          rejected_type: 'mission.callback_rejected',
          reason_code: 'TRACE_MISMATCH',
          rejections: 1,
        },
      ]);
      // Rejected inputs move no mission between buckets.
      expect(after.body.status_counts).toContainEqual({
        mission_type: 'coding',
        status: 'running',
        missions: 2,
      });
    });
  });
});
