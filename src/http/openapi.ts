import { exportJsonSchemas } from '../../schemas/json-schema.ts';
import { missionStatusSchema, missionTypeSchema } from '../../schemas/index.ts';
import { errorCodes } from '../errors.ts';
import { DEFAULT_LIMIT, MAX_LIMIT } from './query-params.ts';
import { OUTCOME_WINDOW_HOURS } from './read-routes.ts';

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

// ---- the read API (read-routes.ts)

const minPosition = {
  name: 'min_position',
  in: 'query',
  schema: { type: 'integer', minimum: 0 },
  description:
    'Read-your-writes: wait (up to LEDGER_MIN_POSITION_WAIT_MS) until the projection has applied this log position, e.g. the `position` a command returned; 503 PROJECTION_LAGGING or PROJECTION_STALLED with Retry-After otherwise.',
};
const limit = {
  name: 'limit',
  in: 'query',
  schema: { type: 'integer', minimum: 1, maximum: MAX_LIMIT, default: DEFAULT_LIMIT },
};
const cursor = {
  name: 'cursor',
  in: 'query',
  schema: { type: 'string' },
  description: 'Opaque: the `next_cursor` of the previous page.',
};
const enumQuery = (name: string, values: readonly string[], description: string) => ({
  name,
  in: 'query',
  schema: { enum: [...values] },
  description,
});

/** A 503 of a read whose projection is behind `min_position` or stalled. */
const projectionUnavailable = {
  '503': {
    description: 'PROJECTION_LAGGING or PROJECTION_STALLED: retry.',
    headers: { 'Retry-After': { schema: { type: 'integer' }, description: 'Always 1.' } },
    content: { 'application/json': { schema: ref('Error') } },
  },
};

const asOf = {
  type: 'integer',
  description: "The projection's checkpoint in the snapshot the rows were read from.",
};
const nullableString = { type: ['string', 'null'] };
const nullableNumber = { type: ['number', 'null'] };
const integer = { type: 'integer', minimum: 0 };
/** The same schema for several properties. */
const each = (names: readonly string[], schema: Json): Json =>
  Object.fromEntries(names.map((name) => [name, schema]));

const readSchemas: Record<string, Json> = {
  MissionList: {
    type: 'object',
    required: ['missions', 'next_cursor', 'as_of_position'],
    properties: {
      missions: {
        type: 'array',
        items: { type: 'object', description: 'As GET /v1/missions/{id} answers.' },
      },
      next_cursor: { ...nullableString, description: 'null on the last page.' },
      as_of_position: asOf,
    },
  },
  Budget: {
    type: 'object',
    required: ['mission_id', 'mission_type', 'usage', 'any_breached', 'as_of_position'],
    properties: {
      mission_id: { type: 'string' },
      mission_type: { enum: [...missionTypeSchema.options] },
      usage: {
        type: 'object',
        description:
          "Per usage field of the contract: the latest accepted callback's value against the dispatch's budget for it.",
        properties: each(['runtime_minutes', 'llm_calls', 'estimated_cost_usd'], {
          type: 'object',
          properties: {
            used: { type: 'number' },
            max: { type: 'number' },
            percent: {
              ...nullableNumber,
              description: 'used / max * 100, two decimals; null when max is 0.',
            },
            breached: { type: 'boolean', description: 'used > max.' },
          },
        }),
      },
      any_breached: { type: 'boolean' },
      updated_at: { type: 'string', format: 'date-time' },
      last_position: { type: 'integer' },
      as_of_position: asOf,
    },
  },
  Approvals: {
    type: 'object',
    required: ['approvals', 'next_cursor', 'as_of_position', 'now'],
    properties: {
      approvals: {
        type: 'array',
        items: {
          type: 'object',
          required: ['mission_id', 'since', 'summary', 'age_seconds'],
          properties: {
            mission_id: { type: 'string' },
            since: { type: 'string', format: 'date-time' },
            summary: { type: 'string' },
            vp_id: { type: 'string' },
            vp_session_id: { type: 'string' },
            target_instance_id: { type: 'string' },
            mission_type: { enum: [...missionTypeSchema.options] },
            trace_id: { type: 'string' },
            updated_at: { type: 'string', format: 'date-time' },
            last_position: { type: 'integer' },
            age_seconds: { ...integer, description: 'now - since, whole seconds.' },
          },
        },
      },
      next_cursor: nullableString,
      as_of_position: asOf,
      now: { type: 'string', format: 'date-time' },
    },
  },
  OutcomeCounts: {
    type: 'object',
    required: ['completed', 'failed', 'cancelled', 'timed_out', 'closed'],
    properties: {
      completed: integer,
      failed: integer,
      cancelled: integer,
      timed_out: integer,
      closed: integer,
      success_rate: { ...nullableNumber, description: 'completed / closed; null when closed = 0.' },
      failure_rate: {
        ...nullableNumber,
        description: '(failed + timed_out) / closed; null when closed = 0.',
      },
    },
  },
  MissionHealth: {
    type: 'object',
    required: ['now', 'as_of_position', 'status_counts', 'outcomes', 'rejections'],
    properties: {
      now: { type: 'string', format: 'date-time' },
      as_of_position: asOf,
      status_counts: {
        type: 'array',
        items: {
          type: 'object',
          properties: {
            mission_type: { enum: [...missionTypeSchema.options] },
            status: { enum: [...missionStatusSchema.options] },
            missions: integer,
          },
        },
      },
      outcomes: {
        type: 'array',
        description: `One per window: ${OUTCOME_WINDOW_HOURS.join(', ')} hours.`,
        items: {
          type: 'object',
          properties: {
            window_hours: { type: 'integer' },
            since: {
              type: 'string',
              format: 'date-time',
              description:
                'The first UTC hour counted: the hour of now minus (window_hours - 1) h.',
            },
            mission_types: {
              type: 'array',
              items: {
                allOf: [
                  ref('OutcomeCounts'),
                  {
                    type: 'object',
                    properties: { mission_type: { enum: [...missionTypeSchema.options] } },
                  },
                ],
              },
            },
            total: ref('OutcomeCounts'),
          },
        },
      },
      rejections: {
        type: 'array',
        items: {
          type: 'object',
          properties: {
            rejected_type: { type: 'string' },
            reason_code: { type: 'string' },
            rejections: integer,
          },
        },
      },
    },
  },
  Projections: {
    type: 'object',
    required: ['head_position', 'projections'],
    properties: {
      head_position: { type: 'integer' },
      projections: {
        type: 'array',
        items: {
          type: 'object',
          properties: {
            name: { type: 'string' },
            position: { type: 'integer' },
            status: { enum: ['running', 'stalled', 'stopped'] },
            error: nullableString,
            active: { type: 'boolean' },
            lag: { ...integer, description: 'head_position - position.' },
          },
        },
      },
    },
  },
};

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
        get: {
          summary:
            'Missions from the mission_state read model, newest dispatch first (dispatched_at desc, mission_id desc), paged. Roles: operator, auditor.',
          parameters: [
            enumQuery('status', missionStatusSchema.options, 'Only missions in this status.'),
            enumQuery('mission_type', missionTypeSchema.options, 'Only missions of this type.'),
            { name: 'vp_id', in: 'query', schema: { type: 'string', minLength: 1 } },
            limit,
            cursor,
            minPosition,
          ],
          responses: {
            '200': json(ref('MissionList'), 'A page.'),
            ...errors(400, 401, 403),
            ...projectionUnavailable,
          },
        },
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
            {
              ...cursor,
              description: 'The `next_cursor` of the previous page (the last revision it held).',
            },
            page('from_revision', 'Deprecated alias: the first revision wanted (default 0).'),
            limit,
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
      '/v1/budgets/{mission_id}': {
        get: {
          summary: 'Usage against budget, from the budgets read model. Roles: operator, auditor.',
          parameters: [
            { name: 'mission_id', in: 'path', required: true, schema: { type: 'string' } },
            minPosition,
          ],
          responses: {
            '200': json(ref('Budget'), 'The budget row.'),
            ...errors(400, 401, 403, 404),
            ...projectionUnavailable,
          },
        },
      },
      '/v1/dashboards/approvals': {
        get: {
          summary:
            'Blocked missions, longest blocked first (since asc, mission_id asc), with their age now. Roles: operator, auditor.',
          parameters: [limit, cursor, minPosition],
          responses: {
            '200': json(ref('Approvals'), 'A page.'),
            ...errors(400, 401, 403),
            ...projectionUnavailable,
          },
        },
      },
      '/v1/dashboards/mission-health': {
        get: {
          summary:
            'Missions per type and status, outcomes per hour window with rates, rejections per reason code. Roles: operator, auditor.',
          parameters: [minPosition],
          responses: {
            '200': json(ref('MissionHealth'), 'The dashboard.'),
            ...errors(400, 401, 403),
            ...projectionUnavailable,
          },
        },
      },
      '/v1/projections': {
        get: {
          summary:
            "Each projection's runner status, the log's head and each one's lag. Roles: operator, auditor.",
          responses: { '200': json(ref('Projections'), 'Status.'), ...errors(400, 401, 403) },
        },
      },
      '/v1/events': {
        get: {
          summary: 'The global log, paged by position. Roles: operator, auditor.',
          parameters: [
            {
              ...cursor,
              description:
                'Return events after this log position: the `next_cursor` of the previous page, or any position seen (default 0).',
            },
            page('after', 'Deprecated alias of cursor.'),
            limit,
          ],
          responses: {
            '200': json(
              {
                type: 'object',
                properties: {
                  events: { type: 'array', items: ref('stored-event') },
                  next_cursor: { type: ['string', 'null'] },
                  next_after: { type: 'integer', deprecated: true },
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
          summary:
            "Readiness: the store answers. The body also lists the projections' statuses, which never change the status code.",
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
      schemas: {
        ...contractComponents(),
        CommandResult: commandResult,
        Error: errorBody,
        ...readSchemas,
      },
    },
  };
}
