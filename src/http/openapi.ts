import { exportJsonSchemas } from '../../schemas/export.ts';
import { errorCodes } from '../errors.ts';

/*
 * The OpenAPI 3.1 document of /v1, served at /v1/openapi.json. Request and event schemas are the
 * zod contract's own JSON Schema export (draft 2020-12, which OpenAPI 3.1 uses as its schema
 * dialect), so the document cannot drift from what the server validates.
 */

type Json = Record<string, unknown>;

const ref = (name: string) => ({ $ref: `#/components/schemas/${name}` });
const json = (schema: Json, description: string) => ({
  description,
  content: { 'application/json': { schema } },
});

function contractComponents(): Record<string, Json> {
  const components: Record<string, Json> = {};
  for (const [file, text] of Object.entries(exportJsonSchemas())) {
    // `$id` stays: the documents' internal `#/$defs/...` references resolve against it.
    const { $schema: _dialect, ...schema } = JSON.parse(text) as Json;
    components[file.replace('.schema.json', '')] = schema;
  }
  return components;
}

const errorBody = {
  type: 'object',
  required: ['error'],
  properties: {
    error: {
      type: 'object',
      required: ['code', 'message', 'details'],
      properties: {
        code: { enum: [...Object.keys(errorCodes), 'INTERNAL'] },
        message: { type: 'string' },
        details: { type: 'object' },
      },
    },
  },
};

const commandResult = {
  type: 'object',
  required: ['mission_id', 'revision', 'position', 'duplicate'],
  properties: {
    mission_id: { type: 'string' },
    vp_session_id: {
      type: 'string',
      description: 'Dispatch only: the session, allocated when absent.',
    },
    revision: {
      type: 'integer',
      description: "The appended event's revision in the mission stream.",
    },
    position: { type: 'integer', description: "The appended event's global position." },
    duplicate: {
      type: 'boolean',
      description: 'True when an idempotent retry replayed the original result.',
    },
  },
};

const errors = (...statuses: number[]) =>
  Object.fromEntries(
    statuses.map((s) => [String(s), json(ref('Error'), 'An error with a stable code.')]),
  );

const idParam = { name: 'id', in: 'path', required: true, schema: { type: 'string' } };
const page = (name: string, description: string) => ({
  name,
  in: 'query',
  schema: { type: 'integer', minimum: 0 },
  description,
});

/** Builds the document; `serverUrl` is where this process listens. */
export function openApiDocument(version: string): Json {
  return {
    openapi: '3.1.0',
    info: {
      title: 'mission-ledger',
      version,
      description:
        'Event-sourced ledger for AI-mission control planes. Every input, accepted or rejected, is in the log.',
    },
    servers: [{ url: '/' }],
    security: [{ bearer: [] }],
    paths: {
      '/v1/missions': {
        post: {
          summary: 'Dispatch a mission (Mission Envelope v1). Role: operator.',
          requestBody: {
            required: true,
            content: { 'application/json': { schema: ref('mission-dispatch') } },
          },
          responses: {
            '201': json(ref('CommandResult'), 'Dispatched.'),
            '200': json(
              ref('CommandResult'),
              'A retry with the same idempotency key and payload: the original result.',
            ),
            ...errors(400, 401, 403, 409, 413, 415, 422, 503),
          },
        },
      },
      '/v1/missions/{id}': {
        get: {
          summary:
            'The mission folded from its stream. Roles: operator, auditor, factory (own missions).',
          parameters: [idParam],
          responses: { '200': json({ type: 'object' }, 'The mission.'), ...errors(401, 403, 404) },
        },
      },
      '/v1/missions/{id}/events': {
        post: {
          summary:
            'A lifecycle callback (seed 002 section 3). Role: factory bound to the target instance.',
          parameters: [idParam],
          requestBody: {
            required: true,
            content: { 'application/json': { schema: ref('lifecycle-event') } },
          },
          responses: {
            '201': json(ref('CommandResult'), 'Accepted and appended.'),
            '200': json(ref('CommandResult'), 'A retry: the original result.'),
            ...errors(400, 401, 403, 404, 409, 413, 415, 422, 503),
          },
        },
        get: {
          summary:
            "The mission's timeline, paged by revision. Roles: operator, auditor, factory (own missions).",
          parameters: [
            idParam,
            page('from_revision', 'First revision (default 0).'),
            page('limit', 'At most this many (1-1000, default 100).'),
          ],
          responses: {
            '200': json({ type: 'object' }, 'Events in revision order.'),
            ...errors(400, 401, 403, 404),
          },
        },
      },
      '/v1/missions/{id}/cancel': {
        post: {
          summary: 'Request cancellation. Role: operator. Optional Idempotency-Key header.',
          parameters: [
            idParam,
            { name: 'Idempotency-Key', in: 'header', schema: { type: 'string' } },
          ],
          requestBody: {
            required: true,
            content: { 'application/json': { schema: ref('cancel-request') } },
          },
          responses: {
            '201': json(ref('CommandResult'), 'Cancel requested.'),
            ...errors(400, 401, 403, 404, 409, 415, 422),
          },
        },
      },
      '/v1/vp-sessions/{vp_id}/{vp_session_id}': {
        get: {
          summary: 'A VP session registry record. Roles: operator, auditor.',
          parameters: [
            { name: 'vp_id', in: 'path', required: true, schema: { type: 'string' } },
            { name: 'vp_session_id', in: 'path', required: true, schema: { type: 'string' } },
          ],
          responses: {
            '200': json({ type: 'object' }, 'The session record.'),
            ...errors(401, 403, 404),
          },
        },
      },
      '/v1/events': {
        get: {
          summary: 'The global log, paged by position. Roles: operator, auditor.',
          parameters: [
            page('after', 'Return events after this position (default 0).'),
            page('limit', 'At most this many (1-1000, default 100).'),
          ],
          responses: {
            '200': json(
              {
                type: 'object',
                properties: {
                  events: { type: 'array', items: ref('stored-event') },
                  next_after: { type: 'integer' },
                },
              },
              'A page.',
            ),
            ...errors(400, 401, 403),
          },
        },
      },
      '/v1/events/stream': {
        get: {
          summary:
            'The global log as Server-Sent Events (id = position), resumable with Last-Event-ID. Roles: operator, auditor.',
          parameters: [
            {
              name: 'Last-Event-ID',
              in: 'header',
              schema: { type: 'string' },
              description: 'Resume after this position.',
            },
            page('after', 'Resume after this position when no Last-Event-ID is sent (default 0).'),
          ],
          responses: {
            '200': {
              description: 'An endless text/event-stream.',
              content: { 'text/event-stream': { schema: { type: 'string' } } },
            },
            ...errors(400, 401, 403),
          },
        },
      },
      '/v1/healthz': {
        get: {
          summary: 'Liveness.',
          security: [],
          responses: { '200': json({ type: 'object' }, 'Up.') },
        },
      },
      '/v1/readyz': {
        get: {
          summary: 'Readiness: the store answers.',
          security: [],
          responses: {
            '200': json({ type: 'object' }, 'Ready.'),
            '503': json({ type: 'object' }, 'Degraded, with the reason.'),
          },
        },
      },
      '/v1/openapi.json': {
        get: {
          summary: 'This document.',
          security: [],
          responses: { '200': json({ type: 'object' }, 'OpenAPI 3.1.') },
        },
      },
    },
    components: {
      securitySchemes: { bearer: { type: 'http', scheme: 'bearer' } },
      schemas: { ...contractComponents(), CommandResult: commandResult, Error: errorBody },
    },
  };
}
