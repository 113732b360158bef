import { z } from 'zod';
import type { ZodOpenApiOperationObject, ZodOpenApiResponseObject } from 'zod-openapi';
import { contractSchemas } from '../../schemas/index.ts';
import {
  budgetPath,
  cancelHeaders,
  eventStreamHeaders,
  eventStreamQuery,
  eventsQuery,
  keyCommandHeaders,
  keyIdPath,
  keyListQuery,
  keysetCursor,
  limit,
  minPositionQuery,
  missionIdPath,
  missionListQuery,
  retryAfterHeaders,
  timelineQuery,
  vpSessionPath,
  signatureHeaders,
} from './openapi-parameters.ts';
import { OUTCOME_WINDOW_HOURS, POLICY_TOP_FACTORIES } from './read-routes.ts';
import {
  approvalsSchema,
  budgetSchema,
  commandResultSchema,
  errorBodySchema,
  eventsPageSchema,
  healthSchema,
  keyCommandResultSchema,
  missionHealthSchema,
  missionListSchema,
  missionViewSchema,
  notReadySchema,
  policyDashboardSchema,
  projectionsSchema,
  readySchema,
  signingKeyListSchema,
  signingKeyViewSchema,
  timelinePageSchema,
  vpSessionSchema,
  policyViewSchema,
} from './response-schemas/index.ts';

/** The tags operations are grouped by, with what each holds. */
export const tags = [
  {
    name: 'missions',
    description: 'Dispatch, lifecycle callbacks, cancel, and one mission read from its stream.',
  },
  { name: 'events', description: 'The global event log, paged and live.' },
  {
    name: 'keys',
    description: 'The signing key registry: Ed25519 keys that sign inputs, with their windows.',
  },
  {
    name: 'policy',
    description: 'The policy profile in force, and switching it (recorded in ledger-policy).',
  },
  { name: 'read-models', description: 'Reads of the projections: lists, budgets, VP sessions.' },
  { name: 'dashboards', description: 'Aggregates for operators, from the projections.' },
  { name: 'operations', description: 'Health, readiness, projection status and this document.' },
] as const;

type Tag = (typeof tags)[number]['name'];

/** One operation of the API: where it lives and what zod-openapi renders for it. */
export interface Operation extends ZodOpenApiOperationObject {
  path: `/v1/${string}`;
  method: 'get' | 'post';
  operationId: string;
  tags: [Tag];
  summary: string;
}

const json = (schema: z.ZodType, description: string): ZodOpenApiResponseObject => ({
  description,
  content: { 'application/json': { schema } },
});

const errorDescriptions: Record<number, string> = {
  400: 'A malformed request: INVALID_ARGUMENT (a query parameter) or a body that is not JSON.',
  401: 'UNAUTHENTICATED: no bearer token, or an unknown one.',
  403: "FORBIDDEN: the token's role may not use this route.",
  404: 'MISSION_NOT_FOUND or VP_SESSION_NOT_FOUND.',
  409: 'A conflict with the mission (MISSION_EXISTS, MISSION_CLOSED, TRANSITION_ILLEGAL, IDEMPOTENCY_KEY_REUSED); rejections are recorded.',
  413: 'PAYLOAD_TOO_LARGE or EVENT_TOO_LARGE.',
  415: 'UNSUPPORTED_MEDIA_TYPE: not application/json.',
  422: 'The payload breaks the contract or a rule (SCHEMA_INVALID, IDENTITY_MISMATCH, ...); recorded.',
};

/** Error answers with a stable code, by status. */
const errors = (...statuses: (keyof typeof errorDescriptions)[]) =>
  Object.fromEntries(
    statuses.map((s) => [String(s), json(errorBodySchema, errorDescriptions[s] ?? 'An error.')]),
  );

/** What any authenticated route may answer besides its own errors. */
const otherFailures = {
  default: json(
    errorBodySchema,
    'Any other failure: 503 DEADLINE_EXCEEDED or STORE_UNAVAILABLE (with Retry-After), 500 INTERNAL.',
  ),
};

const withRetryAfter = (description: string): ZodOpenApiResponseObject => ({
  ...json(errorBodySchema, description),
  headers: retryAfterHeaders,
});

/** A 503 of a read whose projection is behind `min_position` or stalled. */
const projectionUnavailable = {
  '503': withRetryAfter('PROJECTION_LAGGING or PROJECTION_STALLED: retry after Retry-After (1 s).'),
};

/** The answers of the three commands besides their 201. */
const commandFailures = {
  '200': json(
    commandResultSchema,
    'A retry with the same idempotency key and payload: the original result (duplicate: true).',
  ),
  '429': withRetryAfter('RATE_LIMITED: the sender made the ledger record too many rejections.'),
  '503': withRetryAfter('STORE_UNAVAILABLE or DEADLINE_EXCEEDED: retry with the same key.'),
};

/** The answers of the key registry's two commands besides their 201. */
const keyCommandFailures = {
  '200': json(
    keyCommandResultSchema,
    'A retry of a change already in force: the original result (duplicate: true).',
  ),
  '404': json(errorBodySchema, 'NOT_FOUND: no key of that id (revocation); recorded.'),
  '409': json(
    errorBodySchema,
    'ALREADY_EXISTS: the key id is registered with other content; or IDEMPOTENCY_KEY_REUSED. Recorded.',
  ),
  '422': json(
    errorBodySchema,
    'SCHEMA_INVALID: the body breaks the contract, the public key is no Ed25519 key, or the window is empty. Recorded.',
  ),
  '429': withRetryAfter('RATE_LIMITED: the sender made the ledger record too many rejections.'),
  '503': withRetryAfter('STORE_UNAVAILABLE or DEADLINE_EXCEEDED: retry.'),
};

const body = (schema: z.ZodType) => ({
  required: true,
  content: { 'application/json': { schema } },
});

/**
 * Every operation of /v1, in the order the document lists them. The document's `paths` are made
 * from this list, and the route table (405s, access log templates) from the document.
 */
export const operations: Operation[] = [
  {
    path: '/v1/missions',
    method: 'post',
    operationId: 'dispatchMission',
    tags: ['missions'],
    summary: 'Dispatch a mission',
    description: 'Dispatch a mission (Mission Envelope v1). Role: operator.',
    requestParams: { header: signatureHeaders },
    requestBody: body(contractSchemas['mission-dispatch']),
    responses: {
      '201': json(commandResultSchema, 'Dispatched.'),
      ...commandFailures,
      ...errors(400, 401, 403, 409, 413, 415, 422),
      ...otherFailures,
    },
  },
  {
    path: '/v1/missions',
    method: 'get',
    operationId: 'listMissions',
    tags: ['read-models'],
    summary: 'List missions',
    description:
      'Missions from the mission_state read model, newest dispatch first (dispatched_at desc, mission_id desc), paged. Roles: operator, auditor.',
    requestParams: { query: missionListQuery },
    responses: {
      '200': json(missionListSchema, 'A page.'),
      ...errors(400, 401, 403),
      ...projectionUnavailable,
      ...otherFailures,
    },
  },
  {
    path: '/v1/missions/{id}',
    method: 'get',
    operationId: 'getMission',
    tags: ['missions'],
    summary: 'Read a mission',
    description:
      'The mission folded from its stream. Roles: operator, auditor, factory (own missions; any other is answered 404).',
    requestParams: { path: missionIdPath },
    responses: {
      '200': json(missionViewSchema, 'The mission.'),
      ...errors(401, 403, 404),
      ...otherFailures,
    },
  },
  {
    path: '/v1/missions/{id}/events',
    method: 'post',
    operationId: 'postLifecycleEvent',
    tags: ['missions'],
    summary: 'Report a lifecycle event',
    description:
      'A lifecycle callback (seed 002 section 3). Role: factory bound to the target instance.',
    requestParams: { path: missionIdPath, header: signatureHeaders },
    requestBody: body(contractSchemas['lifecycle-event']),
    responses: {
      '201': json(commandResultSchema, 'Accepted and appended.'),
      ...commandFailures,
      ...errors(400, 401, 403, 404, 409, 413, 415, 422),
      ...otherFailures,
    },
  },
  {
    path: '/v1/missions/{id}/events',
    method: 'get',
    operationId: 'getMissionTimeline',
    tags: ['missions'],
    summary: "Read a mission's timeline",
    description:
      "The mission's timeline, every event as stored, paged by revision. Roles: operator, auditor, factory (own missions).",
    requestParams: { path: missionIdPath, query: timelineQuery },
    responses: {
      '200': json(timelinePageSchema, 'Events in revision order.'),
      ...errors(400, 401, 403, 404),
      ...otherFailures,
    },
  },
  {
    path: '/v1/missions/{id}/cancel',
    method: 'post',
    operationId: 'cancelMission',
    tags: ['missions'],
    summary: 'Request cancellation',
    description: 'Request cancellation. Role: operator. Optional Idempotency-Key header.',
    requestParams: { path: missionIdPath, header: cancelHeaders },
    requestBody: body(contractSchemas['cancel-request']),
    responses: {
      '201': json(commandResultSchema, 'Cancel requested.'),
      ...commandFailures,
      ...errors(400, 401, 403, 404, 409, 413, 415, 422),
      ...otherFailures,
    },
  },
  {
    path: '/v1/policy',
    method: 'get',
    operationId: 'getPolicy',
    tags: ['policy'],
    summary: 'Read the policy in force',
    description:
      "The profile in force in the answering process (id, digest, settings), where it came from, and each rule's mode per environment with the effective one. Roles: operator, auditor.",
    responses: {
      '200': json(policyViewSchema, 'The policy in force.'),
      ...errors(400, 401, 403),
      ...otherFailures,
    },
  },
  {
    path: '/v1/policy/activations',
    method: 'post',
    operationId: 'activatePolicy',
    tags: ['policy'],
    summary: 'Switch the policy in force',
    description:
      'Put a shipped profile or a (trusted) profile document in force, with or without the rollback toggle; recorded as policy.activated and adopted by every serving process. Role: operator.',
    requestBody: body(contractSchemas['policy-activation-request']),
    responses: {
      '201': json(policyViewSchema, 'Activated.'),
      '404': json(errorBodySchema, 'NOT_FOUND: no shipped profile of that id.'),
      ...errors(400, 401, 403, 413, 415, 422),
      ...otherFailures,
    },
  },
  {
    path: '/v1/keys',
    method: 'post',
    operationId: 'registerKey',
    tags: ['keys'],
    summary: 'Register a signing key',
    description:
      'Register an Ed25519 signing key for an instance, with a validity window (rotation: register the new key with a window overlapping the old one). Role: operator.',
    requestParams: { header: keyCommandHeaders },
    requestBody: body(contractSchemas['key-registration']),
    responses: {
      '201': json(keyCommandResultSchema, 'Registered.'),
      ...keyCommandFailures,
      ...errors(400, 401, 403, 413, 415),
      ...otherFailures,
    },
  },
  {
    path: '/v1/keys',
    method: 'get',
    operationId: 'listKeys',
    tags: ['keys'],
    summary: 'List signing keys',
    description: 'Every registered key in key id order, paged. Roles: operator, auditor.',
    requestParams: { query: keyListQuery },
    responses: {
      '200': json(signingKeyListSchema, 'A page.'),
      ...errors(400, 401, 403),
      ...otherFailures,
    },
  },
  {
    path: '/v1/keys/{key_id}',
    method: 'get',
    operationId: 'getKey',
    tags: ['keys'],
    summary: 'Read a signing key',
    description: 'One key with its window, revocation and status now. Roles: operator, auditor.',
    requestParams: { path: keyIdPath },
    responses: {
      '200': json(signingKeyViewSchema, 'The key.'),
      '404': json(errorBodySchema, 'NOT_FOUND: no key of that id.'),
      ...errors(401, 403),
      ...otherFailures,
    },
  },
  {
    path: '/v1/keys/{key_id}/revoke',
    method: 'post',
    operationId: 'revokeKey',
    tags: ['keys'],
    summary: 'Revoke a signing key',
    description:
      'Revoke a key: it verifies no input received from now on. The first revocation stands. Role: operator.',
    requestParams: { path: keyIdPath, header: keyCommandHeaders },
    requestBody: body(contractSchemas['key-revocation']),
    responses: {
      '201': json(keyCommandResultSchema, 'Revoked.'),
      ...keyCommandFailures,
      ...errors(400, 401, 403, 413, 415),
      ...otherFailures,
    },
  },
  {
    path: '/v1/vp-sessions/{vp_id}/{vp_session_id}',
    method: 'get',
    operationId: 'getVpSession',
    tags: ['read-models'],
    summary: 'Read a VP session record',
    description:
      'A VP session registry record, from the vp_sessions read model. Roles: operator, auditor.',
    requestParams: { path: vpSessionPath, query: minPositionQuery },
    responses: {
      '200': json(vpSessionSchema, 'The session record.'),
      ...errors(400, 401, 403, 404),
      ...projectionUnavailable,
      ...otherFailures,
    },
  },
  {
    path: '/v1/budgets/{mission_id}',
    method: 'get',
    operationId: 'getBudget',
    tags: ['read-models'],
    summary: "Read a mission's budget",
    description: 'Usage against budget, from the budgets read model. Roles: operator, auditor.',
    requestParams: { path: budgetPath, query: minPositionQuery },
    responses: {
      '200': json(budgetSchema, 'The budget row.'),
      ...errors(400, 401, 403, 404),
      ...projectionUnavailable,
      ...otherFailures,
    },
  },
  {
    path: '/v1/dashboards/approvals',
    method: 'get',
    operationId: 'listApprovals',
    tags: ['dashboards'],
    summary: 'List blocked missions',
    description:
      'Blocked missions, longest blocked first (since asc, mission_id asc), with their age now. Roles: operator, auditor.',
    requestParams: {
      query: z.object({ limit, cursor: keysetCursor, ...minPositionQuery.shape }),
    },
    responses: {
      '200': json(approvalsSchema, 'A page.'),
      ...errors(400, 401, 403),
      ...projectionUnavailable,
      ...otherFailures,
    },
  },
  {
    path: '/v1/dashboards/mission-health',
    method: 'get',
    operationId: 'getMissionHealth',
    tags: ['dashboards'],
    summary: 'Read the mission-health dashboard',
    description: `Missions per type and status, outcomes per hour window (${OUTCOME_WINDOW_HOURS.join(', ')} hours) with rates, rejections per reason code. Roles: operator, auditor.`,
    requestParams: { query: minPositionQuery },
    responses: {
      '200': json(missionHealthSchema, 'The dashboard.'),
      ...errors(400, 401, 403),
      ...projectionUnavailable,
      ...otherFailures,
    },
  },
  {
    path: '/v1/dashboards/policy',
    method: 'get',
    operationId: 'getPolicyDashboard',
    tags: ['dashboards'],
    summary: 'Read the policy dashboard',
    description: `What the policy did per hour window (${OUTCOME_WINDOW_HOURS.join(', ')} hours): blocks, warnings and shadow verdicts per rule and reason code, the ${POLICY_TOP_FACTORIES} senders with the most blocks, and per profile the decided inputs and rejection ratio. Roles: operator, auditor.`,
    requestParams: { query: minPositionQuery },
    responses: {
      '200': json(policyDashboardSchema, 'The dashboard.'),
      ...errors(400, 401, 403),
      ...projectionUnavailable,
      ...otherFailures,
    },
  },
  {
    path: '/v1/projections',
    method: 'get',
    operationId: 'listProjections',
    tags: ['operations'],
    summary: "Read the projections' status",
    description:
      "Each projection's status and checkpoint, the log's head and each one's lag. Roles: operator, auditor.",
    responses: {
      '200': json(projectionsSchema, 'Status.'),
      ...errors(400, 401, 403),
      ...otherFailures,
    },
  },
  {
    path: '/v1/events',
    method: 'get',
    operationId: 'listEvents',
    tags: ['events'],
    summary: 'Read the global log',
    description: 'The global log, paged by position. Roles: operator, auditor.',
    requestParams: { query: eventsQuery },
    responses: {
      '200': json(eventsPageSchema, 'A page.'),
      ...errors(400, 401, 403),
      ...otherFailures,
    },
  },
  {
    path: '/v1/events/stream',
    method: 'get',
    operationId: 'streamEvents',
    tags: ['events'],
    summary: 'Tail the global log',
    description:
      'The global log as Server-Sent Events (id = position, event = type, data = the stored event), resumable with Last-Event-ID. Roles: operator, auditor.',
    requestParams: { query: eventStreamQuery, header: eventStreamHeaders },
    responses: {
      '200': {
        description: 'An endless text/event-stream.',
        content: { 'text/event-stream': { schema: z.string() } },
      },
      ...errors(400, 401, 403),
      ...otherFailures,
    },
  },
  {
    path: '/v1/healthz',
    method: 'get',
    operationId: 'getHealth',
    tags: ['operations'],
    summary: 'Liveness',
    description: 'Answers while the process runs. No token.',
    security: [],
    responses: { '200': json(healthSchema, 'Up.') },
  },
  {
    path: '/v1/readyz',
    method: 'get',
    operationId: 'getReadiness',
    tags: ['operations'],
    summary: 'Readiness',
    description:
      "Readiness: the store answers. The body also lists the projections' statuses, which never change the status code. No token.",
    security: [],
    responses: {
      '200': json(readySchema, 'Ready, or degraded by a stalled projection.'),
      '503': json(notReadySchema, 'Degraded: the store failed or did not answer in time.'),
    },
  },
  {
    path: '/v1/openapi.json',
    method: 'get',
    operationId: 'getOpenApiDocument',
    tags: ['operations'],
    summary: 'This document',
    description: 'The OpenAPI 3.1 document of /v1. No token.',
    security: [],
    responses: {
      '200': json(
        z.looseObject({ openapi: z.literal('3.1.0') }).meta({ id: 'OpenApiDocument' }),
        'OpenAPI 3.1.',
      ),
    },
  },
];
