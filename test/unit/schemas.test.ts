import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import type { z } from 'zod';
import { exportJsonSchemas } from '../../schemas/json-schema.ts';
import { fastCheck } from '../../schemas/fast-check.ts';
import {
  lifecycleEventSchema,
  missionDispatchedDataSchema,
  missionDispatchSchema,
} from '../../schemas/index.ts';

const root = new URL('../../', import.meta.url);
const jsonDir = new URL('schemas/json/', root);
const readJson = (path: string): unknown => JSON.parse(readFileSync(new URL(path, root), 'utf8'));

const dispatchFixture = readJson('fixtures/mission-dispatch.example.json');
const eventFixture = readJson('fixtures/lifecycle-event.example.json');

/** A deep copy of `base` with the value at `path` replaced, or removed when `value` is undefined. */
function patched(base: unknown, path: string[], value: unknown): unknown {
  const copy = structuredClone(base) as Record<string, unknown>;
  let node = copy;
  for (const key of path.slice(0, -1)) node = node[key] as Record<string, unknown>;
  const last = path.at(-1) as string;
  if (value === undefined) delete node[last];
  else node[last] = value;
  return copy;
}

/** The paths zod reports for `input`; empty when it parses. */
function failingPaths(schema: z.ZodType, input: unknown): PropertyKey[][] {
  const result = schema.safeParse(input);
  return result.success ? [] : result.error.issues.map((issue) => issue.path);
}

describe('JSON Schema drift gate', () => {
  const exported = exportJsonSchemas();
  const hint = 'schemas/json is out of date: run `npm run schemas` and commit the result';

  it.each(Object.keys(exported))('committed %s matches the export byte for byte', (file) => {
    const committed = new URL(file, jsonDir);
    expect(existsSync(committed), `${file} is missing; ${hint}`).toBe(true);
    expect(readFileSync(committed, 'utf8'), `${file} differs; ${hint}`).toBe(exported[file]);
  });

  it('has no stale schema files', () => {
    const stale = readdirSync(jsonDir).filter(
      (f) => f.endsWith('.schema.json') && !(f in exported),
    );
    expect(stale, `stale files; ${hint}`).toEqual([]);
  });
});

describe('fixtures', () => {
  it('the dispatch example parses', () => {
    expect(missionDispatchSchema.parse(dispatchFixture).vp_id).toBe('vp.coder.primary');
  });

  it('the lifecycle event example parses', () => {
    expect(lifecycleEventSchema.parse(eventFixture).event_type).toBe('mission.accepted');
  });
});

describe('mission dispatch rejections', () => {
  const window = ['autonomy_window'] as const;
  it.each([
    ['unknown top-level field', ['priority'], 'high', []],
    ['unknown nested field', ['budget', 'max_tokens'], 1, ['budget']],
    ['missing vp_id', ['vp_id'], undefined, ['vp_id']],
    ['bad mission_type', ['mission_type'], 'poetry', ['mission_type']],
    ['negative budget', ['budget', 'max_cost_usd'], -1, ['budget', 'max_cost_usd']],
    ['fractional max_llm_calls', ['budget', 'max_llm_calls'], 2.5, ['budget', 'max_llm_calls']],
    ['non-ISO created_at', ['created_at'], '20 Nov 2025 09:00', ['created_at']],
    [
      'date-time without offset',
      [...window, 'start_at'],
      '2025-11-20T09:00:00',
      [...window, 'start_at'],
    ],
    [
      'end_at before start_at',
      [...window, 'end_at'],
      '2025-11-20T08:00:00Z',
      [...window, 'end_at'],
    ],
    ['bad auth_mode', ['callback', 'auth_mode'], 'basic', ['callback', 'auth_mode']],
    [
      'non-http status_url',
      ['callback', 'status_url'],
      'ftp://x.example',
      ['callback', 'status_url'],
    ],
  ] as const)('%s', (_name, path, value, expectedPath) => {
    const input = patched(dispatchFixture, [...path], value);
    expect(failingPaths(missionDispatchSchema, input)).toEqual([expectedPath]);
  });

  it('compares the autonomy window as instants, not strings', () => {
    // 10:30+02:00 is 08:30Z: before a 09:00Z start although it sorts after it as text.
    const input = patched(
      dispatchFixture,
      ['autonomy_window', 'end_at'],
      '2025-11-20T10:30:00+02:00',
    );
    expect(failingPaths(missionDispatchSchema, input)).toEqual([['autonomy_window', 'end_at']]);
  });

  it('accepts a first dispatch without vp_session_id', () => {
    const input = patched(dispatchFixture, ['vp_session_id'], undefined);
    expect(failingPaths(missionDispatchSchema, input)).toEqual([]);
  });
});

/** zod's messages for `input`, as `path: message`; empty when it parses. */
function failures(schema: z.ZodType, input: unknown): string[] {
  const result = schema.safeParse(input);
  return result.success
    ? []
    : result.error.issues.map((issue) => `${issue.path.join('.')}: ${issue.message}`);
}

describe('callback status_url', () => {
  const withUrl = (url: string) => patched(dispatchFixture, ['callback', 'status_url'], url);

  it.each([
    'http://localhost:8080/cb',
    'http://10.0.0.5/cb',
    'https://[::1]/cb',
    'http://factory-a/cb',
    'https://simone.internal.example.com/api/v1/missions/m/events?x=1#top',
    'HTTPS://Factory-A:8443/cb',
    'http://xn--mnchen-3ya.example/cb',
  ])('accepts %s', (url) => {
    expect(failures(missionDispatchSchema, withUrl(url))).toEqual([]);
  });

  it.each([
    ['http://user:secret@host/cb', 'must not carry credentials'],
    ['https://token@factory-a/cb', 'must not carry credentials'],
    ['https://:pw@factory-a/cb', 'must not carry credentials'],
    ['ftp://factory-a/cb', 'must use http or https, not ftp'],
    ['javascript:alert(1)', 'must use http or https, not javascript'],
    ['file:///etc/passwd', 'must use http or https, not file'],
    ['factory-a/cb', 'must be an absolute URL'],
    ['/api/v1/cb', 'must be an absolute URL'],
    ['http://', 'must be an absolute URL'],
    ['http://exa%20mple.com/cb', 'must be an absolute URL'],
    ['http:factory-a/cb', 'must start with http:// or https://'],
    ['http:\\\\factory-a\\cb', 'must start with http:// or https://'],
    [' http://factory-a/cb', 'must not contain whitespace'],
    ['http://factory-a/a b', 'must not contain whitespace'],
    ['http://fac\ttory-a/cb', 'must not contain whitespace'],
  ])('refuses %j: %s, naming the field', (url, reason) => {
    const messages = failures(missionDispatchSchema, withUrl(url));
    expect(messages).toHaveLength(1);
    expect(messages[0]).toMatch(new RegExp(`^callback\\.status_url: ${reason}`));
  });

  it('still validates a stored dispatch whose status_url carries credentials', () => {
    // Accepted before credentials were refused at the door: a projection must still read it.
    const stored = {
      input: withUrl('http://user:secret@host.example/cb'),
      vp_session_id: 'vps_01JD8Z5YB2W9E4QK7TPM0RXAGD',
      vp_session_allocated: false,
      workspace_key: 'ws_0123456789abcdef01234567',
      received_at: '2025-11-20T08:58:42.000Z',
      principal: { role: 'operator', id: 'ops-alice' },
    };
    expect(failures(missionDispatchedDataSchema, stored)).toEqual([]);
    expect(fastCheck(missionDispatchedDataSchema)?.(stored)).toBe(true);
    const ftp = { ...stored, input: withUrl('ftp://host.example/cb') };
    expect(failures(missionDispatchedDataSchema, ftp)).toEqual([
      'input.callback.status_url: must use http or https, not ftp',
    ]);
    expect(fastCheck(missionDispatchedDataSchema)?.(ftp)).toBe(false);
  });
});

describe('date-times (seed 002: ISO-8601 with an offset)', () => {
  const withCreated = (value: string) => patched(dispatchFixture, ['created_at'], value);

  it.each([
    '2025-11-20T08:58:41Z',
    '2025-11-20T08:58:41.207Z',
    '2025-11-20T08:58:41.123456789+05:30',
    '2025-11-20T08:58Z',
    '2025-11-20T08:58-08:00',
    '2024-02-29T00:00:00Z',
  ])('accepts %s', (value) => {
    expect(failures(missionDispatchSchema, withCreated(value))).toEqual([]);
    expect(Number.isNaN(Date.parse(value))).toBe(false);
  });

  it.each([
    '2025-11-20T08:58:41',
    '2025-11-20T08:58',
    '2025-11-20',
    '2025-11-20 08:58:41Z',
    '2025-11-20T08:58:41+02',
    '2025-11-20T08:58:41+0200',
    '2025-11-20T08:58:41,5Z',
    '2025-02-29T00:00:00Z',
    '2025-11-20T24:00:00Z',
  ])('refuses %s', (value) => {
    expect(failures(missionDispatchSchema, withCreated(value))).toEqual([
      'created_at: must be an ISO-8601 date-time with an offset (Z or ±hh:mm)',
    ]);
  });
});

describe('lifecycle event rejections', () => {
  const withIndex = { ...(eventFixture as object), artifact_index: [{ ref: 'patch.diff' }] };
  it.each([
    ['missing vp_session_id', ['vp_session_id'], undefined, ['vp_session_id']],
    ['bad status', ['status'], 'paused', ['status']],
    ['bad event_type', ['event_type'], 'mission.started', ['event_type']],
    ['negative usage', ['usage', 'runtime_minutes'], -0.5, ['usage', 'runtime_minutes']],
    ['fractional llm_calls', ['usage', 'llm_calls'], 1.5, ['usage', 'llm_calls']],
    [
      'unknown field in artifact_index',
      ['artifact_index', '0', 'sha'],
      'abc',
      ['artifact_index', 0],
    ],
  ] as const)('%s', (_name, path, value, expectedPath) => {
    const input = patched(withIndex, [...path], value);
    expect(failingPaths(lifecycleEventSchema, input)).toEqual([expectedPath]);
  });

  it('accepts the optional final-event fields of seed 002 §6.3', () => {
    const input = {
      ...(eventFixture as object),
      event_type: 'mission.completed',
      status: 'completed',
      artifact_index: [{ ref: 'patch.diff', description: 'The change' }, { ref: 'summary.md' }],
      next_action: 'Review and merge the patch.',
    };
    expect(failingPaths(lifecycleEventSchema, input)).toEqual([]);
  });
});

interface JsonSchemaNode {
  $schema?: string;
  $id?: string;
  $ref?: string;
  $defs?: Record<string, JsonSchemaNode>;
  additionalProperties?: boolean;
  required?: string[];
  enum?: string[];
  properties?: Record<string, JsonSchemaNode>;
}

describe('exported JSON Schema carries the constraints', () => {
  const doc = JSON.parse(
    exportJsonSchemas()['mission-dispatch.schema.json'] ?? '{}',
  ) as JsonSchemaNode;
  const resolve = (node: JsonSchemaNode | undefined): JsonSchemaNode | undefined =>
    node?.$ref ? doc.$defs?.[node.$ref.replace('#/$defs/', '')] : node;

  it('identifies itself as a draft 2020-12 document', () => {
    expect(doc.$schema).toBe('https://json-schema.org/draft/2020-12/schema');
    expect(doc.$id).toBe('https://mission-ledger.dev/schemas/mission-dispatch.schema.json');
  });

  it('rejects unknown fields at the root and in nested objects', () => {
    expect(doc.additionalProperties).toBe(false);
    expect(resolve(doc.properties?.budget)?.additionalProperties).toBe(false);
  });

  it('lists the mission_type values and the required fields', () => {
    expect(resolve(doc.properties?.mission_type)?.enum).toEqual([
      'coding',
      'research',
      'automation',
      'custom',
    ]);
    expect(doc.required).toContain('vp_id');
    expect(doc.required).not.toContain('vp_session_id');
  });
});
