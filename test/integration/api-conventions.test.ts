import { Writable } from 'node:stream';
import { pino } from 'pino';
import { describe, expect, it } from 'vitest';
import type { StoredEvent } from '../../src/store/port.ts';
import {
  TOKENS,
  startApp,
  useStoreAndApp,
  type ApiBody,
  type CallResult,
} from '../support/http-app.ts';
import { dispatchPayload, logHead, newMissionId } from '../support/mission-fixtures.ts';
import { freshSchemaName, storeUrl } from '../support/postgres.ts';

/**
 * The conventions every route follows (docs/api.md, Conventions): one paging scheme, one `limit`
 * range, one refusal of unknown or repeated parameters, SCHEMA_INVALID issues for clients, 405
 * with Allow, a 401 that says what is wrong, and an access log line for every request.
 */

interface LogPage {
  events: StoredEvent[];
  next_cursor: string | null;
  next_after: number;
}

interface TimelinePage {
  events: StoredEvent[];
  next_cursor: string | null;
  next_from_revision: number;
}

describe.each([
  ['PGlite', () => 'pglite:memory'],
  ['PostgreSQL', () => storeUrl(freshSchemaName('conv'))],
])('API conventions on %s', (_name, url) => {
  const on = useStoreAndApp(url);
  const operator = TOKENS.operator;

  async function dispatched(): Promise<string> {
    const payload = dispatchPayload();
    const res = await on.app.call('POST', '/v1/missions', { token: operator, body: payload });
    expect(res.status, JSON.stringify(res.body)).toBe(201);
    return payload.mission_id;
  }

  describe('paging', () => {
    it('pages the log with cursor and next_cursor, null exactly at the end', async () => {
      const start = await logHead(on.app);
      for (let i = 0; i < 5; i += 1)
        await on.store.append(`page-${i}`, [{ type: 'e', data: { i } }]);
      const seen: number[] = [];
      let cursor: string | null = String(start);
      let pages = 0;
      while (cursor !== null) {
        const res: CallResult<LogPage> = await on.app.call<LogPage>(
          'GET',
          `/v1/events?cursor=${cursor}&limit=2`,
          { token: operator },
        );
        expect(res.status).toBe(200);
        seen.push(...res.body.events.map((e) => e.position));
        cursor = res.body.next_cursor;
        pages += 1;
      }
      expect(seen).toEqual([1, 2, 3, 4, 5].map((k) => start + k));
      // 2 + 2 + 1: the last page is short and says so; no empty page is needed to learn it.
      expect(pages).toBe(3);
      // A position is a cursor: any position seen continues the log after it.
      const tail = await on.app.call<LogPage>('GET', `/v1/events?cursor=${start + 4}`, {
        token: operator,
      });
      expect(tail.body.events.map((e) => e.position)).toEqual([start + 5]);
      expect(tail.body.next_cursor).toBeNull();
    });

    it('keeps after and next_after working, and refuses after together with cursor', async () => {
      const start = await logHead(on.app);
      await on.store.append('legacy', [
        { type: 'e', data: { i: 1 } },
        { type: 'e', data: { i: 2 } },
      ]);
      const old = await on.app.call<LogPage>('GET', `/v1/events?after=${start}&limit=1`, {
        token: operator,
      });
      expect(old.body.events.map((e) => e.position)).toEqual([start + 1]);
      expect(old.body.next_after).toBe(start + 1);
      expect(old.body.next_cursor).toBe(String(start + 1));
      const both = await on.app.call('GET', `/v1/events?after=${start}&cursor=${start}`, {
        token: operator,
      });
      expect(both.status).toBe(400);
      expect(both.body.error?.details).toEqual({ parameter: 'after', value: String(start) });
    });

    it('pages a mission timeline with cursor (the last revision seen), and from_revision still', async () => {
      const missionId = await dispatched();
      for (let i = 0; i < 2; i += 1) {
        const res = await on.app.call('POST', `/v1/missions/${missionId}/cancel`, {
          token: operator,
          body: { reason: `stop ${i}` },
        });
        expect(res.status).toBe(201);
      }
      const path = `/v1/missions/${missionId}/events`;
      const first = await on.app.call<TimelinePage>('GET', `${path}?limit=2`, { token: operator });
      expect(first.body.events.map((e) => e.revision)).toEqual([0, 1]);
      expect(first.body.next_cursor).toBe('1');
      const second = await on.app.call<TimelinePage>(
        'GET',
        `${path}?limit=2&cursor=${first.body.next_cursor}`,
        { token: operator },
      );
      expect(second.body.events.map((e) => e.revision)).toEqual([2]);
      expect(second.body.next_cursor).toBeNull();
      const legacy = await on.app.call<TimelinePage>('GET', `${path}?from_revision=1`, {
        token: operator,
      });
      expect(legacy.body.events.map((e) => e.revision)).toEqual([1, 2]);
      expect(legacy.body.next_from_revision).toBe(3);
    });

    it('takes limit from 1 to 1000 on every list, and refuses others alike', async () => {
      const missionId = await dispatched();
      const lists = [
        '/v1/events',
        `/v1/missions/${missionId}/events`,
        '/v1/missions',
        '/v1/dashboards/approvals',
      ];
      for (const list of lists) {
        expect((await on.app.call('GET', `${list}?limit=1000`, { token: operator })).status).toBe(
          200,
        );
        for (const bad of ['0', '1001', 'ten']) {
          const res = await on.app.call('GET', `${list}?limit=${bad}`, { token: operator });
          expect(res.status, `${list} ${bad}`).toBe(400);
          expect(res.body.error?.details, list).toEqual({ parameter: 'limit', value: bad });
        }
      }
    });
  });

  describe('query parameters', () => {
    it('refuses an unknown or a repeated parameter on every route with one details shape', async () => {
      const missionId = await dispatched();
      const routes: [method: string, path: string, known: string][] = [
        ['GET', '/v1/events', 'cursor'],
        ['GET', '/v1/events/stream', 'cursor'],
        ['GET', `/v1/missions/${missionId}/events`, 'cursor'],
        ['GET', '/v1/missions', 'status'],
        ['GET', `/v1/budgets/${missionId}`, 'min_position'],
        ['GET', '/v1/dashboards/approvals', 'cursor'],
        ['GET', '/v1/dashboards/mission-health', 'min_position'],
        ['GET', '/v1/projections', 'nothing'],
        ['GET', `/v1/missions/${missionId}`, 'nothing'],
        ['POST', '/v1/missions', 'nothing'],
        ['POST', `/v1/missions/${missionId}/cancel`, 'nothing'],
      ];
      const head = await logHead(on.app);
      for (const [method, path] of routes) {
        const body = method === 'POST' ? { reason: 'x' } : undefined;
        const res = await on.app.call(method, `${path}?colour=red`, { token: operator, body });
        expect(res.status, `${method} ${path}`).toBe(400);
        expect(res.body.error?.code).toBe('INVALID_ARGUMENT');
        expect(res.body.error?.details).toMatchObject({ parameter: 'colour' });
        expect(Array.isArray(res.body.error?.details.allowed)).toBe(true);
      }
      for (const [method, path, known] of routes.filter(
        ([m, , k]) => m === 'GET' && k !== 'nothing',
      )) {
        const res = await on.app.call(method, `${path}?${known}=1&${known}=2`, { token: operator });
        expect(res.status, path).toBe(400);
        expect(res.body.error?.details, path).toEqual({ parameter: known, value: ['1', '2'] });
      }
      // Refused before any handler decided anything: nothing was recorded.
      expect(await logHead(on.app)).toBe(head);
    });
  });

  describe('SCHEMA_INVALID details', () => {
    it('lists issues as {path, message} on dispatch, and again on a retry; the log keeps {code, message}', async () => {
      const payload = dispatchPayload({ vp_id: 7, objective: undefined });
      const res = await on.app.call('POST', '/v1/missions', { token: operator, body: payload });
      expect(res.status).toBe(422);
      const issues = res.body.error?.details.issues as { path: string; message: string }[];
      expect(issues.map((i) => i.path).sort()).toEqual(['objective', 'vp_id']);
      for (const issue of issues) expect(issue.message).not.toBe('');
      expect(res.body.error?.details.reasons).toEqual([
        { code: 'SCHEMA_INVALID', message: res.body.error?.message },
      ]);

      const retry = await on.app.call('POST', '/v1/missions', { token: operator, body: payload });
      expect(retry.status).toBe(422);
      expect(retry.body.error?.details).toMatchObject({ duplicate: true, issues });

      const recorded = res.body.error?.details.recorded as { position: number };
      const [stored] = await on.store.readAll({ after: recorded.position - 1, limit: 1 });
      expect((stored?.data as { reasons: unknown }).reasons).toEqual([
        { code: 'SCHEMA_INVALID', message: res.body.error?.message },
      ]);
    });

    it('lists the issues of a cancel body and of its Idempotency-Key header', async () => {
      const missionId = await dispatched();
      const res = await on.app.call('POST', `/v1/missions/${missionId}/cancel`, {
        token: operator,
        body: { reason: '', extra: 1 },
        headers: { 'idempotency-key': 'k'.repeat(300) },
      });
      expect(res.status).toBe(422);
      const paths = (res.body.error?.details.issues as { path: string }[]).map((i) => i.path);
      expect(paths).toContain('reason');
      expect(paths).toContain('Idempotency-Key');
    });

    it('gives no issues to rejections of other kinds', async () => {
      const res = await on.app.call('POST', `/v1/missions/${newMissionId()}/cancel`, {
        token: operator,
        body: { reason: 'not there' },
      });
      expect(res.status).toBe(404);
      expect(res.body.error?.details).not.toHaveProperty('issues');
    });
  });

  describe('methods', () => {
    it('answers 405 with Allow for a known path and a wrong method, before authentication', async () => {
      const missionId = newMissionId();
      const cases: [string, string, string][] = [
        ['DELETE', '/v1/missions', 'GET, POST, HEAD'],
        ['PUT', `/v1/missions/${missionId}/cancel`, 'POST'],
        ['POST', '/v1/events', 'GET, HEAD'],
        ['PATCH', `/v1/missions/${missionId}`, 'GET, HEAD'],
      ];
      for (const [method, path, allow] of cases) {
        for (const token of [operator, undefined]) {
          const res = await on.app.call(method, path, token === undefined ? {} : { token });
          expect(res.status, `${method} ${path}`).toBe(405);
          expect(res.headers.get('allow')).toBe(allow);
          expect(res.body.error).toMatchObject({
            code: 'METHOD_NOT_ALLOWED',
            details: { method, allowed: allow.split(', ') },
          });
        }
      }
      const unknown = await on.app.call('DELETE', '/v1/nowhere', { token: operator });
      expect(unknown.status).toBe(404);
      expect(unknown.body.error?.code).toBe('ROUTE_NOT_FOUND');
    });
  });
});

describe('authentication answers on PGlite', () => {
  const on = useStoreAndApp(() => 'pglite:memory');

  const unauthenticated = async (authorization?: string) => {
    const res = await on.app.call('GET', '/v1/projections', {
      headers: authorization === undefined ? {} : { authorization },
    });
    expect(res.status).toBe(401);
    expect(res.headers.get('www-authenticate')).toContain('Bearer');
    return res.body.error!;
  };

  it('says the scheme is wrong for another scheme, naming it but never its credential', async () => {
    const basic = await unauthenticated(`Basic ${Buffer.from('u:p').toString('base64')}`);
    expect(basic.message).toMatch(/scheme must be Bearer/);
    expect(basic.details).toEqual({ reason: 'scheme', scheme: 'Basic' });
    // A token sent without a scheme: not echoed, not looked up.
    const bare = await unauthenticated(TOKENS.operator);
    expect(bare.details).toEqual({ reason: 'scheme', scheme: null });
    expect(JSON.stringify(bare)).not.toContain(TOKENS.operator);
  });

  it('tells a missing token from an unknown one', async () => {
    expect((await unauthenticated()).details).toEqual({ reason: 'missing' });
    expect((await unauthenticated('Bearer')).details).toEqual({ reason: 'missing' });
    const unknown = await unauthenticated('Bearer not-a-token-anyone-has');
    expect(unknown.details).toEqual({ reason: 'unknown_token' });
    expect(unknown.message).toBe('The bearer token is not recognised.');
  });

  it('names the development tokens file in development only', async () => {
    const file = '/srv/ledger/.ledger-dev-tokens.json';
    for (const [env, named] of [
      ['development', true],
      ['production', false],
    ] as const) {
      const app = await startApp({ store: on.store, env, devTokensFile: file });
      try {
        const res = await app.call('GET', '/v1/projections', {
          headers: { authorization: 'Bearer wrong-token' },
        });
        expect(res.status).toBe(401);
        if (named) {
          expect(res.body.error?.details).toEqual({
            reason: 'unknown_token',
            dev_tokens_file: file,
          });
          expect(res.body.error?.message).toContain(file);
        } else {
          expect(JSON.stringify(res.body)).not.toContain(file);
        }
      } finally {
        await app.close();
      }
    }
  });
});

describe('access log on PGlite', () => {
  const lines: Record<string, unknown>[] = [];
  const sink = new Writable({
    write(chunk: Buffer, _encoding, done) {
      for (const line of chunk.toString('utf8').split('\n'))
        if (line !== '') lines.push(JSON.parse(line) as Record<string, unknown>);
      done();
    },
  });
  const on = useStoreAndApp(() => 'pglite:memory', { logger: pino({ level: 'info' }, sink) });

  const requestLines = () => lines.filter((l) => l.msg === 'request');

  it('writes one line per request, refused ones included, with the route template and never the token', async () => {
    const missionId = newMissionId();
    const calls: [string, string, string | undefined, number][] = [
      ['GET', `/v1/missions/${missionId}`, TOKENS.operator, 404],
      ['GET', '/v1/projections', undefined, 401],
      ['GET', '/v1/events', TOKENS.factory, 403],
      ['DELETE', '/v1/events', TOKENS.operator, 405],
      ['GET', '/v1/nowhere', TOKENS.operator, 404],
    ];
    for (const [method, path, token, status] of calls) {
      const res = await on.app.call<ApiBody>(method, path, token === undefined ? {} : { token });
      expect(res.status).toBe(status);
    }
    await expect.poll(() => requestLines().length).toBe(calls.length);
    expect(
      requestLines().map(({ method, route, status, principal }) => ({
        method,
        route,
        status,
        principal,
      })),
    ).toEqual([
      { method: 'GET', route: '/v1/missions/{id}', status: 404, principal: 'operator:ops-alice' },
      { method: 'GET', route: '/v1/projections', status: 401, principal: null },
      { method: 'GET', route: '/v1/events', status: 403, principal: 'factory:ua-factory-07' },
      { method: 'DELETE', route: '/v1/events', status: 405, principal: null },
      { method: 'GET', route: null, status: 404, principal: 'operator:ops-alice' },
    ]);
    for (const line of requestLines()) expect(typeof line.duration_ms).toBe('number');
    const everything = JSON.stringify(lines);
    for (const token of Object.values(TOKENS)) expect(everything).not.toContain(token);
    expect(everything).not.toContain(missionId);
  });
});
