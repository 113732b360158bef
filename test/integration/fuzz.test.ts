import { gzipSync } from 'node:zlib';
import { describe, expect, it } from 'vitest';
import { TOKENS, type CallResult, type TestApp, useStoreAndApp } from '../support/http-app.ts';
import { callbackPayload, dispatchPayload, type Dispatch } from '../support/mission-fixtures.ts';
import { freshSchemaName, storeUrl } from '../support/postgres.ts';

type Json = Record<string, unknown>;

/** mulberry32: a small seeded generator, so every run sends the same requests. */
function random(seed: number) {
  let a = seed >>> 0;
  const next = () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
  const int = (n: number) => Math.floor(next() * n);
  const pick = <T>(items: readonly T[]): T => items[int(items.length)]!;
  return { next, int, pick };
}
type Random = ReturnType<typeof random>;

const SEED = 20261203;
const REQUESTS = 1500;
/** The fuzz run stops sending after this long, whatever it reached: the test is bounded in time. */
const TIME_BUDGET_MS = 60_000;

/** 503s the API documents; any other 5xx is a defect. */
const DOCUMENTED_503 = new Set([
  'STORE_UNAVAILABLE',
  'DEADLINE_EXCEEDED',
  'PROJECTION_LAGGING',
  'PROJECTION_STALLED',
]);

const junkValues = (r: Random): unknown =>
  r.pick<() => unknown>([
    () => null,
    () => r.int(1e6) - 5e5,
    () => 1e308 * 10,
    () => -0,
    () => '',
    () => 'x'.repeat(r.int(3000)),
    () => `nul\u0000here`,
    () => `esc\u001b[31m`,
    () => '\ud800',
    () => '%00%zz',
    () => ['a', 1, null],
    () => ({ nested: { deeper: [{}] } }),
    () => true,
    () => 'https://user:pw@example.com/cb',
    () => 'http://localhost:8080/cb',
    () => '2025-13-45T99:99:99Z',
  ])();

/** A JSON object with one field deleted, replaced by junk, or nested junk added. */
function mutate(r: Random, body: Json): Json {
  const copy = structuredClone(body);
  const keys = Object.keys(copy);
  const key = r.pick(keys);
  switch (r.int(4)) {
    case 0:
      delete copy[key];
      break;
    case 1:
      copy[key] = junkValues(r);
      break;
    case 2:
      copy[`extra_${r.int(5)}`] = junkValues(r);
      break;
    default:
      if (typeof copy[key] === 'object' && copy[key] !== null && !Array.isArray(copy[key])) {
        const inner = copy[key] as Json;
        const innerKey = r.pick(Object.keys(inner).concat(['x']));
        inner[innerKey] = junkValues(r);
      }
  }
  return copy;
}

/** Bodies no handler may ever see parsed, so nothing may be appended for them. */
const unparsable: { name: string; body: Uint8Array | string; headers: Record<string, string> }[] = [
  {
    name: 'truncated JSON',
    body: '{"mission_id": "m',
    headers: { 'content-type': 'application/json' },
  },
  { name: 'empty', body: '', headers: { 'content-type': 'application/json' } },
  { name: 'whitespace', body: '  \n ', headers: { 'content-type': 'application/json' } },
  { name: 'a JSON string', body: '"text"', headers: { 'content-type': 'application/json' } },
  {
    name: 'invalid UTF-8',
    body: new Uint8Array([0x7b, 0x22, 0x61, 0x22, 0x3a, 0x22, 0xff, 0xfe, 0x22, 0x7d]),
    headers: { 'content-type': 'application/json' },
  },
  {
    name: 'utf-7',
    body: '{"a":"+ADw-script+AD4-"}',
    headers: { 'content-type': 'application/json; charset=utf-7' },
  },
  { name: 'text/plain', body: '{}', headers: { 'content-type': 'text/plain' } },
  {
    name: 'corrupt gzip',
    body: 'definitely not gzip',
    headers: { 'content-type': 'application/json', 'content-encoding': 'gzip' },
  },
  {
    name: 'truncated gzip',
    body: gzipSync(Buffer.from(JSON.stringify({ a: 'b'.repeat(500) }))).subarray(0, 30),
    headers: { 'content-type': 'application/json', 'content-encoding': 'gzip' },
  },
  {
    name: 'prototype key',
    body: '{"__proto__": {"polluted": true}}',
    headers: { 'content-type': 'application/json' },
  },
  {
    name: 'too deep',
    body: `${'['.repeat(100)}${']'.repeat(100)}`,
    headers: { 'content-type': 'application/json' },
  },
];

/** Path segments that do not decode to a usable value: refused before any route. */
const undecodable = ['%', '%zz', '%E0%A4%A', '%00', 'a%00b', '%C0%AF'];
const badSegments = [...undecodable, '..', '%2F%2F', 'x'.repeat(600)];

interface Sent {
  label: string;
  res: CallResult;
  /** The request could not have parsed as an input (auth, role, body or URL refused). */
  neverParsed: boolean;
}

/*
 * A seeded fuzz run over every route and role: valid, mutated and malformed inputs, strangers'
 * tokens, broken paths and queries. Nothing may answer a 5xx other than a documented 503, the
 * server must keep serving, nothing may be appended for a request that never parsed, and no
 * projection may stall on what was recorded.
 */
describe.each([
  ['PGlite', () => 'pglite:memory'],
  ['PostgreSQL', () => storeUrl(freshSchemaName('fuzz'))],
])('fuzzed requests on %s', (_name, url) => {
  const on = useStoreAndApp(url, {
    rejectionLimits: { perMinute: 100_000, bytesPerMinute: 1024 ** 3 },
  });

  it(`answers ${REQUESTS} seeded requests without an undocumented 5xx or an append from unparsed input`, async () => {
    const r = random(SEED);
    const missions: Dispatch[] = [];
    const tokens = [
      undefined,
      'not-a-token-at-all-but-long-enough',
      TOKENS.operator,
      TOKENS.factory,
      TOKENS.otherFactory,
      TOKENS.auditor,
    ];
    const refusedRole = (token: string | undefined, allowed: string[]) =>
      token === undefined ||
      !allowed.includes(token) ||
      token === 'not-a-token-at-all-but-long-enough';

    const send = async (
      label: string,
      method: string,
      path: string,
      options: Parameters<TestApp['call']>[2],
      neverParsed: boolean,
    ): Promise<Sent> => {
      const before = neverParsed ? await on.store.headPosition() : 0;
      const res = await on.app.call(method, path, options);
      if (neverParsed) {
        expect(await on.store.headPosition(), `${label} appended`).toBe(before);
      }
      return { label, res, neverParsed };
    };

    const requests: (() => Promise<Sent>)[] = [
      // Dispatches: valid, mutated, from every token.
      async () => {
        const token = r.pick(tokens);
        const d = dispatchPayload();
        const body = r.next() < 0.4 ? d : mutate(r, d);
        const sent = await send(
          'dispatch',
          'POST',
          '/v1/missions',
          { token, body },
          refusedRole(token, [TOKENS.operator]),
        );
        if (sent.res.status === 201) missions.push(d);
        return sent;
      },
      // Callbacks to known missions: valid, mutated, from the owner and from strangers.
      async () => {
        const d = missions.length === 0 ? dispatchPayload() : r.pick(missions);
        const token = r.pick(tokens);
        const valid = callbackPayload(d, {
          event_type: r.pick([
            'mission.accepted',
            'mission.progress',
            'mission.completed',
          ] as const),
          vp_session_id: d.vp_session_id ?? 'vps_x',
        });
        const body = r.next() < 0.5 ? valid : mutate(r, valid);
        return send(
          'callback',
          'POST',
          `/v1/missions/${d.mission_id}/events`,
          { token, body },
          refusedRole(token, [TOKENS.factory, TOKENS.otherFactory]),
        );
      },
      // Cancels with odd bodies and keys.
      async () => {
        const d = missions.length === 0 ? dispatchPayload() : r.pick(missions);
        const token = r.pick(tokens);
        const key = r.pick([undefined, 'k1', 'k'.repeat(300), 'event:shared-key']);
        return send(
          'cancel',
          'POST',
          `/v1/missions/${d.mission_id}/cancel`,
          {
            token,
            body: r.pick<unknown>([
              { reason: 'stop' },
              { reason: '' },
              { reason: 'a\u0000b' },
              { why: 1 },
              [],
            ]),
            ...(key === undefined ? {} : { headers: { 'Idempotency-Key': key } }),
          },
          refusedRole(token, [TOKENS.operator]),
        );
      },
      // Bodies that never parse, on every POST route.
      async () => {
        const bad = r.pick(unparsable);
        const d = missions.length === 0 ? dispatchPayload() : r.pick(missions);
        const path = r.pick([
          '/v1/missions',
          `/v1/missions/${d.mission_id}/events`,
          `/v1/missions/${d.mission_id}/cancel`,
        ]);
        return send(
          `body: ${bad.name}`,
          'POST',
          path,
          {
            token: r.pick(tokens),
            rawBody: bad.body,
            headers: bad.headers,
          },
          true,
        );
      },
      // Reads, with valid and junk query parameters.
      async () => {
        const d = missions.length === 0 ? dispatchPayload() : r.pick(missions);
        const path = r.pick([
          `/v1/missions/${d.mission_id}`,
          `/v1/missions/${d.mission_id}/events?from_revision=${r.pick(['0', '-1', 'x', '99999999999999999999'])}`,
          `/v1/missions?status=${r.pick(['running', 'nope', '%00'])}&limit=${r.pick(['1', '0', '100000', 'a'])}`,
          `/v1/missions?cursor=${r.pick(['', 'garbage', '%zz', 'eyJ4IjoxfQ'])}`,
          `/v1/budgets/${d.mission_id}?min_position=${r.pick(['0', '1', 'x'])}`,
          `/v1/dashboards/approvals?limit=${r.pick(['5', '-3'])}`,
          '/v1/dashboards/mission-health',
          `/v1/vp-sessions/${d.vp_id}/${d.vp_session_id ?? 'x'}`,
          '/v1/projections',
          `/v1/events?after=${r.pick(['0', 'x', '-5'])}&limit=${r.pick(['10', '5000'])}`,
          '/v1/healthz',
          '/v1/readyz',
          '/v1/openapi.json',
        ]);
        return send('read', 'GET', path, { token: r.pick(tokens) }, true);
      },
      // Signing keys and the policy: valid and mutated bodies, every token.
      async () => {
        const token = r.pick(tokens);
        const key = {
          key_id: `fz-${r.next().toString(36).slice(2, 8)}`,
          owner: 'ua-factory-07',
          public_key: 'O2onvM62pC1io6jQKm8Nc2UyFXcd4kOmOsBIoYtZ2ik',
        };
        const route = r.pick(['register', 'revoke', 'activate', 'read'] as const);
        if (route === 'read') {
          const path = r.pick([
            '/v1/keys',
            `/v1/keys/${key.key_id}`,
            '/v1/policy',
            '/v1/keys?limit=0',
          ]);
          return send('policy/keys read', 'GET', path, { token }, true);
        }
        const path =
          route === 'register'
            ? '/v1/keys'
            : route === 'revoke'
              ? `/v1/keys/${r.pick([key.key_id, '%00', 'x'.repeat(300)])}/revoke`
              : '/v1/policy/activations';
        const valid =
          route === 'register'
            ? key
            : route === 'revoke'
              ? { reason: 'fuzz' }
              : r.pick<unknown>([
                  { profile_id: 'development' },
                  { profile_id: 'nope' },
                  { profile: { id: 'x', rules: {} } },
                ]);
        const body = r.next() < 0.5 ? valid : mutate(r, valid as Record<string, unknown>);
        return send(route, 'POST', path, { token, body }, refusedRole(token, [TOKENS.operator]));
      },
      // Callbacks with junk signatures.
      async () => {
        const d = missions.length === 0 ? dispatchPayload() : r.pick(missions);
        const body = callbackPayload(d, {
          event_type: 'mission.progress',
          vp_session_id: d.vp_session_id ?? 'vps_x',
        });
        const signature = r.pick([
          '',
          'a..b',
          'x'.repeat(5000),
          'eyJhbGciOiJFZERTQSJ9..AAAA',
          'not a jws!',
        ]);
        return send(
          'signed callback',
          'POST',
          `/v1/missions/${d.mission_id}/events`,
          { token: TOKENS.factory, body, headers: { 'Ledger-Signature': signature } },
          false,
        );
      },
      // Broken paths and methods.
      async () => {
        const segment = r.pick(badSegments);
        const path = r.pick([
          `/v1/missions/${segment}`,
          `/v1/missions/${segment}/events`,
          `/v1/missions/${segment}/cancel`,
          `/v1/${segment}`,
          `/v1/missions?status=${segment}`,
        ]);
        const method = r.pick(['GET', 'POST', 'PUT', 'DELETE', 'PATCH']);
        const token = r.pick(tokens);
        // Only a POST to an input route, with the route's role and a path that decodes, parses.
        const allowed = path.endsWith('/events')
          ? [TOKENS.factory, TOKENS.otherFactory]
          : path.endsWith('/cancel') || path.startsWith('/v1/missions?')
            ? [TOKENS.operator]
            : [];
        const parses =
          method === 'POST' && !undecodable.includes(segment) && !refusedRole(token, allowed);
        return send(
          `path ${method} ${path.slice(0, 60)}`,
          method,
          path,
          { token, ...(method === 'GET' ? {} : { body: { a: 1 } }) },
          !parses,
        );
      },
    ];

    const started = performance.now();
    const sent: Sent[] = [];
    for (let i = 0; i < REQUESTS && performance.now() - started < TIME_BUDGET_MS; i += 1) {
      sent.push(await r.pick(requests)());
    }
    expect(sent.length).toBeGreaterThan(REQUESTS / 3);

    const serverErrors = sent.filter(({ res }) => {
      if (res.status < 500) return false;
      const code = (res.body as { error?: { code?: string } }).error?.code;
      return !(res.status === 503 && code !== undefined && DOCUMENTED_503.has(code));
    });
    expect(
      serverErrors.map(
        ({ label, res }) => `${label}: ${res.status} ${JSON.stringify(res.body).slice(0, 200)}`,
      ),
    ).toEqual([]);
    // Coverage: the run reached accepted, rejected and refused outcomes.
    const statuses = new Set(sent.map(({ res }) => res.status));
    for (const status of [200, 201, 400, 401, 403, 404, 409, 415, 422])
      expect(statuses).toContain(status);

    // Still serving, and every projection went past everything recorded.
    expect((await on.app.call('GET', '/v1/healthz')).status).toBe(200);
    const head = await on.store.headPosition();
    for (const { name } of on.app.readModels.status())
      await on.app.readModels.waitFor(name, head, 30_000);
    expect(on.app.readModels.status().filter((p) => p.status === 'stalled')).toEqual([]);
  });
});
