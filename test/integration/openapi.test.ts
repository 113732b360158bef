import { generateKeyPairSync } from 'node:crypto';
import { Validator } from '@seriousme/openapi-schema-validator';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openApiDocument } from '../../src/http/openapi.ts';
import { tags } from '../../src/http/openapi-operations.ts';
import { openStore } from '../../src/store/open-store.ts';
import type { EventStore } from '../../src/store/port.ts';
import { TOKENS, startApp, type TestApp } from '../support/http-app.ts';
import { callbackPayload, dispatchPayload } from '../support/mission-fixtures.ts';
import { typedClient, type TypedClient } from '../support/openapi-client.ts';
import { redoclyLint } from '../support/openapi-lint.ts';
import { ResponseValidator } from '../support/openapi-responses.ts';
import { dropSchemas, freshSchemaName, storeUrl } from '../support/postgres.ts';

type Json = Record<string, unknown>;
interface Operation {
  operationId?: string;
  tags?: string[];
  summary?: string;
  responses: Record<string, { content?: Record<string, { schema?: Json }> }>;
}

const doc = JSON.parse(JSON.stringify(openApiDocument('0.0.0-test'))) as Json & {
  paths: Record<string, Record<string, Operation>>;
  components: { schemas: Record<string, Json> };
};

const operations = Object.entries(doc.paths).flatMap(([path, item]) =>
  Object.entries(item).map(([method, operation]) => ({ path, method, operation })),
);

/** The value at a local JSON pointer (`#/a/b~1c`) of `root`, or undefined. */
function resolve(root: unknown, ref: string): unknown {
  return ref
    .slice(2)
    .split('/')
    .map((p) => decodeURIComponent(p).replaceAll('~1', '/').replaceAll('~0', '~'))
    .reduce<unknown>(
      (node, key) => (typeof node === 'object' && node !== null ? (node as Json)[key] : undefined),
      root,
    );
}

/** Every `$ref` in `node`. */
function refsIn(node: unknown): string[] {
  if (Array.isArray(node)) return node.flatMap(refsIn);
  if (typeof node !== 'object' || node === null) return [];
  return Object.entries(node).flatMap(([key, value]) =>
    key === '$ref' && typeof value === 'string' ? [value] : refsIn(value),
  );
}

describe('the OpenAPI document', () => {
  it('passes the OpenAPI 3.1 schema validator', async () => {
    const validator = new Validator();
    const result = await validator.validate(doc);
    expect(result.errors).toBeUndefined();
    expect(result.valid).toBe(true);
    expect(validator.version).toBe('3.1');
  });

  it('has only local $refs, and every one resolves', () => {
    const refs = refsIn(doc);
    expect(refs).toContain('#/components/schemas/MissionView');
    for (const ref of refs) {
      expect(ref, 'a local ref').toMatch(/^#\//);
      expect(resolve(doc, ref), `${ref} resolves`).toBeDefined();
    }
  });

  it('holds component schemas that ajv compiles in strict mode', () => {
    const validator = new ResponseValidator(doc);
    for (const name of Object.keys(doc.components.schemas)) {
      expect(() => validator.component(name), name).not.toThrow();
    }
  });

  it('gives every operation a unique camelCase operationId, a declared tag and a summary', () => {
    const ids = operations.map(({ operation }) => operation.operationId);
    expect(new Set(ids).size).toBe(ids.length);
    const declared = new Set<string>(tags.map((t) => t.name));
    for (const { path, method, operation } of operations) {
      const where = `${method} ${path}`;
      expect(operation.operationId, where).toMatch(/^[a-z][a-zA-Z0-9]*$/);
      expect(operation.tags?.length, where).toBe(1);
      expect(declared.has(operation.tags?.[0] ?? ''), where).toBe(true);
      expect(operation.summary, where).toBeTruthy();
    }
  });

  it('gives every JSON answer a schema with named properties, the mission view above all', () => {
    /** A schema that says what a body holds: a ref, properties, items or alternatives. */
    const says = (schema: Json | undefined): boolean => {
      if (schema === undefined) return false;
      if (typeof schema.$ref === 'string') {
        return says(resolve(doc, schema.$ref) as Json | undefined);
      }
      return ['properties', 'items', 'anyOf', 'oneOf', 'allOf', 'enum', 'const'].some(
        (k) => k in schema,
      );
    };
    for (const { path, method, operation } of operations) {
      for (const [status, response] of Object.entries(operation.responses)) {
        for (const [type, media] of Object.entries(response.content ?? {})) {
          if (type !== 'application/json') continue;
          expect(says(media.schema), `${method} ${path} ${status}`).toBe(true);
        }
      }
    }
    const view = doc.components.schemas.MissionView as { required: string[] };
    expect(view.required).toEqual(
      expect.arrayContaining(['mission_id', 'status', 'identity', 'usage', 'final', 'revision']),
    );
    const getMission = doc.paths['/v1/missions/{id}']?.get;
    expect(getMission?.responses['200']?.content?.['application/json']?.schema).toEqual({
      $ref: '#/components/schemas/MissionView',
    });
  });

  it('keeps the deprecated aliases, the 503 Retry-After header and the security scheme', () => {
    const parameter = (path: string, name: string) =>
      (doc.paths[path]?.get as unknown as { parameters: Json[] }).parameters.find(
        (p) => p.name === name,
      );
    expect(parameter('/v1/events', 'after')).toMatchObject({ deprecated: true });
    expect(parameter('/v1/missions/{id}/events', 'from_revision')).toMatchObject({
      deprecated: true,
    });
    expect(parameter('/v1/missions', 'min_position')).toMatchObject({ in: 'query' });
    expect(doc.components.schemas.EventsPage).toMatchObject({
      properties: { next_after: { deprecated: true } },
    });
    expect(doc.components.schemas.TimelinePage).toMatchObject({
      properties: { next_from_revision: { deprecated: true } },
    });
    expect(doc.paths['/v1/budgets/{mission_id}']?.get?.responses['503']).toMatchObject({
      headers: { 'Retry-After': { schema: { type: 'integer' } } },
    });
    expect(doc.components).toMatchObject({
      securitySchemes: { bearer: { type: 'http', scheme: 'bearer' } },
    });
    expect(doc.paths['/v1/healthz']?.get).toMatchObject({ security: [] });
  });

  it('passes redocly lint with no error, and only the warnings accepted here', async () => {
    const problems = await redoclyLint(doc);
    expect(problems.filter((p) => p.severity === 'error')).toEqual([]);
    /*
     * Accepted: the probes and this document answer no 4xx (they take no token and no input);
     * the stored event data schemas are published for readers of the log (`data` of
     * stored-event, by `type`) though no operation names them.
     */
    const accepted = (p: (typeof problems)[number]) =>
      (p.ruleId === 'operation-4xx-response' &&
        /^#\/paths\/~1v1~1(healthz|readyz|openapi\.json)\/get\/responses$/.test(p.pointer)) ||
      (p.ruleId === 'no-unused-components' &&
        /^#\/components\/schemas\/(mission-[a-z-]+|ledger-rejection|vp-session-mission-bound|key-(registered|revoked|registration-rejected|revocation-rejected))$/.test(
          p.pointer,
        ));
    expect(problems.filter((p) => !accepted(p))).toEqual([]);
  });

  it('catches a body that does not match (the validator is not a rubber stamp)', () => {
    const validator = new ResponseValidator(doc);
    const problems = (body: unknown) => validator.problems('get', '/v1/projections', 200, body);
    const good = {
      head_position: 3,
      projections: [
        { name: 'budgets', position: 3, status: 'running', error: null, active: true, lag: 0 },
      ],
    };
    expect(problems(good)).toEqual([]);
    expect(problems({ ...good, extra: 1 })).not.toEqual([]);
    expect(
      problems({ ...good, projections: [{ ...good.projections[0], status: 'sleeping' }] }),
    ).not.toEqual([]);
    expect(problems({ head_position: 3 })).not.toEqual([]);
  });
});

describe.each([
  ['PGlite', () => 'pglite:memory'],
  ['PostgreSQL', () => storeUrl(freshSchemaName('oapi'))],
])('the OpenAPI document against a live server on %s', (_name, url) => {
  let store: EventStore;
  let app: TestApp;
  let client: TypedClient;
  const validator = new ResponseValidator(doc);

  beforeAll(async () => {
    store = await openStore(url());
    app = await startApp({ store });
    client = await typedClient(doc);
  });
  afterAll(async () => {
    await client?.remove();
    await app?.close();
    await store?.close();
    await dropSchemas();
  });

  /** Calls `method path` (a concrete path) and checks the answer against `template`'s schema. */
  async function checked(
    method: 'GET' | 'POST',
    template: string,
    path: string,
    expectedStatus: number,
    options: { token?: string; body?: unknown; headers?: Record<string, string> } = {
      token: TOKENS.operator,
    },
  ) {
    const res = await app.call<Json>(method, path, options);
    expect(res.status, `${method} ${path}: ${JSON.stringify(res.body)}`).toBe(expectedStatus);
    expect(
      validator.problems(method.toLowerCase(), template, res.status, res.body),
      `${method} ${path} ${res.status}: ${JSON.stringify(res.body)}`,
    ).toEqual([]);
    return res.body;
  }

  const operator = { token: TOKENS.operator };
  const factory = { token: TOKENS.factory };

  it('answers every route with a body its documented schema accepts', async () => {
    // A mission that blocks and is asked to cancel; another that completes.
    const open = dispatchPayload({ vp_session_id: undefined });
    const first = await checked('POST', '/v1/missions', '/v1/missions', 201, {
      ...operator,
      body: open,
    });
    const vpSessionId = first.vp_session_id as string;
    expect(typeof vpSessionId).toBe('string');
    await checked('POST', '/v1/missions', '/v1/missions', 200, { ...operator, body: open });
    const events = `/v1/missions/${open.mission_id}/events`;
    const callback = (event_type: 'mission.accepted' | 'mission.blocked') =>
      callbackPayload(open, { event_type, vp_session_id: vpSessionId });
    await checked('POST', '/v1/missions/{id}/events', events, 201, {
      ...factory,
      body: callback('mission.accepted'),
    });
    await checked('POST', '/v1/missions/{id}/events', events, 201, {
      ...factory,
      body: callback('mission.blocked'),
    });
    await checked(
      'POST',
      '/v1/missions/{id}/cancel',
      `/v1/missions/${open.mission_id}/cancel`,
      201,
      {
        ...operator,
        body: { reason: 'The plan changed.' },
        headers: { 'Idempotency-Key': `cancel:${open.mission_id}` },
      },
    );

    const done = dispatchPayload();
    await checked('POST', '/v1/missions', '/v1/missions', 201, { ...operator, body: done });
    const doneEvents = `/v1/missions/${done.mission_id}/events`;
    const usage = { runtime_minutes: 12.5, llm_calls: 40, estimated_cost_usd: 1.25 };
    await checked('POST', '/v1/missions/{id}/events', doneEvents, 201, {
      ...factory,
      body: callbackPayload(done, { event_type: 'mission.accepted', usage }),
    });
    const last = await checked('POST', '/v1/missions/{id}/events', doneEvents, 201, {
      ...factory,
      body: callbackPayload(done, { event_type: 'mission.completed', usage }),
    });
    const at = `min_position=${last.position as number}`;

    const openView = await checked(
      'GET',
      '/v1/missions/{id}',
      `/v1/missions/${open.mission_id}`,
      200,
    );
    expect(openView).toMatchObject({ status: 'blocked', pending_commands: [{ type: 'cancel' }] });
    const doneView = await checked(
      'GET',
      '/v1/missions/{id}',
      `/v1/missions/${done.mission_id}`,
      200,
    );
    expect(doneView).toMatchObject({ status: 'completed', final: { status: 'completed' } });

    const timeline = await checked('GET', '/v1/missions/{id}/events', `${events}?limit=2`, 200);
    expect(timeline.next_cursor).not.toBeNull();
    const page = await checked('GET', '/v1/events', '/v1/events?limit=3', 200);
    expect((page.events as unknown[]).length).toBe(3);

    const list = await checked('GET', '/v1/missions', `/v1/missions?limit=1&${at}`, 200);
    expect(list.next_cursor).not.toBeNull();
    await checked('GET', '/v1/budgets/{mission_id}', `/v1/budgets/${done.mission_id}?${at}`, 200);
    const approvals = await checked(
      'GET',
      '/v1/dashboards/approvals',
      `/v1/dashboards/approvals?${at}`,
      200,
    );
    expect(approvals.approvals).toEqual(
      expect.arrayContaining([expect.objectContaining({ mission_id: open.mission_id })]),
    );
    await checked(
      'GET',
      '/v1/dashboards/mission-health',
      `/v1/dashboards/mission-health?${at}`,
      200,
    );
    const policy = await checked(
      'GET',
      '/v1/dashboards/policy',
      `/v1/dashboards/policy?${at}`,
      200,
    );
    expect((policy.windows as { total: { decided: number } }[])[0]!.total.decided).toBeGreaterThan(
      0,
    );
    await checked('GET', '/v1/projections', '/v1/projections', 200);
    await checked(
      'GET',
      '/v1/vp-sessions/{vp_id}/{vp_session_id}',
      `/v1/vp-sessions/${open.vp_id}/${vpSessionId}?${at}`,
      200,
    );
    await checked('GET', '/v1/healthz', '/v1/healthz', 200, {});
    await checked('GET', '/v1/readyz', '/v1/readyz', 200, {});
    await checked('GET', '/v1/openapi.json', '/v1/openapi.json', 200, {});
  });

  it('answers the signing key routes with bodies their documented schemas accept', async () => {
    const { publicKey } = generateKeyPairSync('ed25519');
    const key = {
      key_id: 'oapi-key-1',
      owner: 'ua-factory-07',
      public_key: publicKey.export({ format: 'jwk' }).x,
    };
    await checked('POST', '/v1/keys', '/v1/keys', 201, { ...operator, body: key });
    await checked('POST', '/v1/keys', '/v1/keys', 200, { ...operator, body: key });
    const other = {
      ...key,
      public_key: generateKeyPairSync('ed25519').publicKey.export({ format: 'jwk' }).x,
    };
    await checked('POST', '/v1/keys', '/v1/keys', 409, { ...operator, body: other });
    await checked('POST', '/v1/keys', '/v1/keys', 422, { ...operator, body: { key_id: 'x' } });
    await checked('GET', '/v1/keys', '/v1/keys?limit=1', 200);
    await checked('GET', '/v1/keys/{key_id}', '/v1/keys/oapi-key-1', 200);
    await checked('GET', '/v1/keys/{key_id}', '/v1/keys/oapi-nowhere', 404);
    const revoke = '/v1/keys/{key_id}/revoke';
    await checked('POST', revoke, '/v1/keys/oapi-key-1/revoke', 201, {
      ...operator,
      body: { reason: 'Rotated.' },
    });
    await checked('POST', revoke, '/v1/keys/oapi-key-1/revoke', 200, {
      ...operator,
      body: { reason: 'Again.' },
    });
    await checked('POST', revoke, '/v1/keys/oapi-nowhere/revoke', 404, {
      ...operator,
      body: { reason: 'x' },
    });
    await checked('GET', '/v1/keys', '/v1/keys', 403, factory);
  });

  it('answers errors with the documented Error body', async () => {
    const missing = await checked('GET', '/v1/missions/{id}', '/v1/missions/msn_nowhere', 404);
    expect(missing).toMatchObject({ error: { code: 'MISSION_NOT_FOUND' } });
    await checked('GET', '/v1/missions', '/v1/missions', 401, {});
    await checked('GET', '/v1/events', '/v1/events?limit=0', 400);
    const rejected = await checked('POST', '/v1/missions', '/v1/missions', 422, {
      ...operator,
      body: { ...dispatchPayload(), objective: '' },
    });
    expect(rejected).toMatchObject({ error: { code: 'SCHEMA_INVALID' } });
    await checked('POST', '/v1/missions/{id}/events', '/v1/missions/msn_nowhere/events', 404, {
      ...factory,
      body: callbackPayload(dispatchPayload({ mission_id: 'msn_nowhere' }), {
        event_type: 'mission.accepted',
      }),
    });
  });

  it('serves a document from which openapi-typescript generates types a typed client uses', async () => {
    expect(client.types).toContain('MissionView');
    const dispatch = dispatchPayload();
    const seen = (await client.run(app.base, TOKENS.operator, dispatch)) as {
      dispatch: { status: number; result: Json };
      list: { status: number; ids: string[]; nextCursor: string | null };
    } & Json;
    expect(seen.dispatch.status).toBe(201);
    expect(seen.dispatch.result).toMatchObject({
      mission_id: dispatch.mission_id,
      revision: 0,
      duplicate: false,
    });
    expect(seen.view).toEqual({
      status: 'queued',
      llmPercent: 0,
      pending: [],
      mission_id: dispatch.mission_id,
      revision: 0,
    });
    // Newest dispatch first: the client's own mission heads the list.
    expect(seen.list.status).toBe(200);
    expect(seen.list.ids[0]).toBe(dispatch.mission_id);
    expect(seen.missing).toEqual({ status: 404, code: 'MISSION_NOT_FOUND' });
  });
});
