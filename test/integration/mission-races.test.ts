import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { scopedKey } from '../../src/domain/mission/index.ts';
import { openStore } from '../../src/store/open-store.ts';
import type { EventStore } from '../../src/store/port.ts';
import {
  TARGET_INSTANCE,
  TOKENS,
  startApp,
  type CallResult,
  type TestApp,
} from '../support/http-app.ts';
import {
  callbackPayload,
  dispatchPayload,
  logEvents,
  logHead,
  missionEvents,
} from '../support/mission-fixtures.ts';
import { dropSchemas, freshSchemaName, storeUrl } from '../support/postgres.ts';

const usage = { runtime_minutes: 1, llm_calls: 1, estimated_cost_usd: 0.01 };

/** Two processes' worth of ledger: two stores on one PostgreSQL schema, two HTTP servers. */
describe('Mission API: two app instances racing on one PostgreSQL schema', () => {
  const stores: EventStore[] = [];
  const apps: TestApp[] = [];
  let a: TestApp;
  let b: TestApp;
  /** The same two stores behind two more apps whose clocks stand still. */
  let fa: TestApp;
  let fb: TestApp;

  beforeAll(async () => {
    const url = storeUrl(freshSchemaName('race'));
    stores.push(await openStore(url));
    stores.push(await openStore(url));
    for (const store of stores) apps.push(await startApp({ store }));
    const now = () => new Date('2025-11-20T10:00:00.000Z');
    for (const store of stores) apps.push(await startApp({ store, now }));
    [a, b, fa, fb] = apps as [TestApp, TestApp, TestApp, TestApp];
  });
  afterAll(async () => {
    for (const app of apps) await app.close();
    for (const store of stores) await store.close();
    await dropSchemas();
  });

  /** A running mission, dispatched through one app and accepted through the other. */
  async function running(a: TestApp, b: TestApp) {
    const d = dispatchPayload();
    expect((await a.call('POST', '/v1/missions', { token: TOKENS.operator, body: d })).status).toBe(
      201,
    );
    const accepted = callbackPayload(d, { event_type: 'mission.accepted', usage });
    const res = await b.call('POST', `/v1/missions/${d.mission_id}/events`, {
      token: TOKENS.factory,
      body: accepted,
    });
    expect(res.status).toBe(201);
    return d;
  }

  /** 20 distinct progress callbacks (equal usage) posted at once, alternating between apps. */
  async function race20() {
    const d = await running(a, b);
    const callbacks = Array.from({ length: 20 }, () =>
      callbackPayload(d, { event_type: 'mission.progress', usage }),
    );
    const post = (body: Record<string, unknown>, i: number) =>
      (i % 2 === 0 ? a : b).call('POST', `/v1/missions/${d.mission_id}/events`, {
        token: TOKENS.factory,
        body,
      });
    const results = await Promise.all(callbacks.map(post));
    return { d, callbacks, results, post };
  }

  it('accepts 20 concurrent distinct callbacks, each with a 201', async () => {
    const { results } = await race20();
    expect(
      results.map((r) => r.status),
      JSON.stringify(results.filter((r) => r.status !== 201).map((r) => r.body)),
    ).toEqual(Array(20).fill(201));
  });

  it('stores each of 20 racing callbacks exactly once, revisions contiguous', async () => {
    const { d, callbacks, results, post } = await race20();
    // Whatever lost the race says so with a conflict and was not stored; a retry then lands.
    const lost = results.flatMap((r, i) => (r.status === 201 ? [] : [i]));
    for (const i of lost) {
      expect(results[i]!.status).toBe(409);
      expect(results[i]!.body.error?.code).toBe('EXPECTED_REVISION_CONFLICT');
      const retry = await post(callbacks[i]!, i);
      expect(retry.status).toBe(201);
      results[i] = retry;
    }
    expect(results.every((r) => r.body.duplicate === false)).toBe(true);
    expect(new Set(results.map((r) => r.body.revision)).size).toBe(20);

    const events = await missionEvents(a, d.mission_id);
    expect(events.map((e) => e.type)).toEqual([
      'mission.dispatched',
      'mission.accepted',
      ...Array<string>(20).fill('mission.progress'),
    ]);
    expect(events.map((e) => e.revision)).toEqual(events.map((_, i) => i));
    // Stored under the keys scoped to the callback kind and the sending factory.
    const scoped = (c: Record<string, unknown>) =>
      scopedKey('callback', { role: 'factory', id: TARGET_INSTANCE }, c.idempotency_key as string);
    const keys = events.slice(2).map((e) => e.metadata.idempotency_key);
    expect(new Set(keys)).toEqual(new Set(callbacks.map(scoped)));
    // Each answer names the revision and position its callback was stored at.
    for (const [i, res] of results.entries()) {
      const stored = events.find((e) => e.revision === res.body.revision);
      expect(stored?.metadata.idempotency_key).toBe(scoped(callbacks[i]!));
      expect(stored?.position).toBe(res.body.position);
    }
    const view = await b.call<{ counts: unknown }>('GET', `/v1/missions/${d.mission_id}`, {
      token: TOKENS.operator,
    });
    expect(view.body.counts).toEqual({ accepted: 21, rejected: 0 });
  });

  /** One callback posted 12 times at once, alternating between `x` and `y`. */
  async function retry12(x: TestApp, y: TestApp) {
    const d = await running(x, y);
    const body = callbackPayload(d, { event_type: 'mission.progress', usage });
    const head = await logHead(x);
    const results = await Promise.all(
      Array.from({ length: 12 }, (_, i) =>
        (i % 2 === 0 ? x : y).call('POST', `/v1/missions/${d.mission_id}/events`, {
          token: TOKENS.factory,
          body,
        }),
      ),
    );
    const appended = await logEvents(x, head);
    return { d, results, appended };
  }

  /** Answers that all name one stored event, each 201 new or 200 duplicate. */
  function expectOneOutcome(results: CallResult[]) {
    expect(
      results.map((r) => r.status).filter((s) => s !== 200 && s !== 201),
      JSON.stringify(results.map((r) => r.body)),
    ).toEqual([]);
    for (const r of results) expect(r.body.duplicate).toBe(r.status === 200);
    expect(new Set(results.map((r) => `${r.body.revision}@${r.body.position}`)).size).toBe(1);
    expect(results.some((r) => r.status === 201)).toBe(true);
  }

  it('stores one callback retried 12 times concurrently exactly once', async () => {
    const { d, results, appended } = await retry12(a, b);
    expectOneOutcome(results);
    expect(appended.map((e) => [e.stream, e.type])).toEqual([
      [`mission-${d.mission_id}`, 'mission.progress'],
    ]);
    expect(results[0]!.body.position).toBe(appended[0]!.position);
  });

  /** The same dispatch posted through `x` and `y` at once. */
  async function dispatchTwice(x: TestApp, y: TestApp, overrides: Record<string, unknown> = {}) {
    const d = dispatchPayload(overrides);
    const results = await Promise.all(
      [x, y].map((app) => app.call('POST', '/v1/missions', { token: TOKENS.operator, body: d })),
    );
    return { d, results };
  }

  it('dispatches once when the same dispatch races on both apps', async () => {
    // No vp_session_id: each app allocates its own, and exactly one of them wins.
    const { d, results } = await dispatchTwice(a, b, { vp_session_id: undefined });
    expectOneOutcome(results);
    const [first, second] = results as [CallResult, CallResult];
    expect(first.body.vp_session_id).toMatch(/^vps_/);
    expect(second.body.vp_session_id).toBe(first.body.vp_session_id);

    const events = await missionEvents(b, d.mission_id);
    expect(events.map((e) => e.type)).toEqual(['mission.dispatched']);
    expect(events[0]!.data.vp_session_id).toBe(first.body.vp_session_id);
    const session = await a.call<{ missions: string[] }>(
      'GET',
      `/v1/vp-sessions/${d.vp_id}/${first.body.vp_session_id}`,
      { token: TOKENS.operator },
    );
    expect(session.status).toBe(200);
    expect(session.body.missions).toEqual([d.mission_id]);
  });

  /** A running mission that both `x` and `y` have read (so both hold it at the same revision). */
  async function runningSeenByBoth(x: TestApp, y: TestApp) {
    const d = await running(x, x);
    const seen = await y.call<{ revision: number }>('GET', `/v1/missions/${d.mission_id}`, {
      token: TOKENS.operator,
    });
    expect(seen.body.revision).toBe(1);
    return d;
  }

  it('answers a callback retried on another instance with 200 duplicate', async () => {
    const d = await runningSeenByBoth(fa, fb);
    const body = callbackPayload(d, { event_type: 'mission.progress', usage });
    const path = `/v1/missions/${d.mission_id}/events`;
    const first = await fa.call('POST', path, { token: TOKENS.factory, body });
    expect(first.status).toBe(201);
    const head = await logHead(fa);
    const retry = await fb.call('POST', path, { token: TOKENS.factory, body });
    expect(await logHead(fa)).toBe(head);
    expect(retry.body).toMatchObject({ revision: first.body.revision, duplicate: true });
    expect(retry.status).toBe(200);
  });

  it('answers a cancel retried on another instance with 200 duplicate', async () => {
    const d = await runningSeenByBoth(fa, fb);
    const send = (app: TestApp) =>
      app.call('POST', `/v1/missions/${d.mission_id}/cancel`, {
        token: TOKENS.operator,
        body: { reason: 'Retried through the load balancer.' },
        headers: { 'Idempotency-Key': `cancel:${d.mission_id}` },
      });
    const first = await send(fa);
    expect(first.status).toBe(201);
    const retry = await send(fb);
    expect(retry.body).toMatchObject({ revision: first.body.revision, duplicate: true });
    expect(retry.status).toBe(200);
  });

  it('answers a retry on another instance with 200 duplicate when the receive times differ', async () => {
    const d = await runningSeenByBoth(a, b);
    const body = callbackPayload(d, { event_type: 'mission.progress', usage });
    const path = `/v1/missions/${d.mission_id}/events`;
    const first = await a.call('POST', path, { token: TOKENS.factory, body });
    expect(first.status).toBe(201);
    await new Promise((resolve) => setTimeout(resolve, 5));
    const head = await logHead(a);
    const retry = await b.call('POST', path, { token: TOKENS.factory, body });
    expect(retry.status).toBe(200);
    expect(retry.body).toEqual({ ...first.body, duplicate: true });
    expect(await logHead(a)).toBe(head);
  });
});
