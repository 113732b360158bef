import { z } from 'zod';
import {
  identifier,
  idempotencyKey,
  isoDateTime,
  missionId,
  nonNegative,
  httpUrl,
  nonNegativeInt,
  recordedHttpUrl,
  stringList,
} from './primitives.ts';

/** The kind of work a mission asks a factory to do (seed 002 §1). */
export const missionTypeSchema = z
  .enum(['coding', 'research', 'automation', 'custom'])
  .meta({ id: 'MissionType', description: 'The kind of work the mission asks for.' });
/** A mission type. */
export type MissionType = z.infer<typeof missionTypeSchema>;

/** When the factory reports back: at milestones, on a fixed interval, or both. */
export const reportCadenceSchema = z
  .enum(['milestone', 'interval', 'hybrid'])
  .meta({ id: 'ReportCadence', description: 'When the factory reports progress.' });
/** A report cadence. */
export type ReportCadence = z.infer<typeof reportCadenceSchema>;

/** Where the mission's artifacts are kept. */
export const storageScopeSchema = z
  .enum(['factory', 'shared', 'pushback'])
  .meta({ id: 'StorageScope', description: 'Where required outputs are stored.' });
/** An artifact storage scope. */
export type StorageScope = z.infer<typeof storageScopeSchema>;

/** How the factory authenticates its callbacks; v1 of the contract knows only bearer tokens. */
export const authModeSchema = z
  .enum(['bearer'])
  .meta({ id: 'AuthMode', description: 'Callback authentication scheme.' });
/** A callback authentication mode. */
export type AuthMode = z.infer<typeof authModeSchema>;

/** Tool controls the factory must honour (seed 002 §5.1 for `approval_required`). */
export const missionConstraintsSchema = z
  .strictObject({
    allowed_tools: stringList.describe('Tools the factory may use.'),
    forbidden_tools: stringList.describe('Tools the factory must not use.'),
    approval_required: stringList.describe('Actions that need an approval before they run.'),
  })
  .meta({ id: 'MissionConstraints', description: 'Tool and approval controls.' });
/** Parsed mission constraints. */
export type MissionConstraints = z.infer<typeof missionConstraintsSchema>;

/** Ceilings on what the mission may consume. */
export const missionBudgetSchema = z
  .strictObject({
    max_runtime_minutes: nonNegative.describe('Wall-clock ceiling in minutes.'),
    max_llm_calls: nonNegativeInt.describe('Ceiling on LLM calls.'),
    max_cost_usd: nonNegative.describe('Spending ceiling in US dollars.'),
  })
  .meta({ id: 'MissionBudget', description: 'Resource ceilings for the mission.' });
/** A parsed mission budget. */
export type MissionBudget = z.infer<typeof missionBudgetSchema>;

/** The interval in which the factory may act without further instruction. */
export const autonomyWindowSchema = z
  .strictObject({
    start_at: isoDateTime.describe('Start of the window, ISO-8601 with offset.'),
    end_at: isoDateTime.describe('End of the window, ISO-8601 with offset; after start_at.'),
  })
  // Compared as instants, not strings: the two ends may carry different offsets.
  .refine((w) => Date.parse(w.end_at) > Date.parse(w.start_at), {
    message: 'end_at must be after start_at',
    path: ['end_at'],
  })
  .meta({ id: 'AutonomyWindow', description: 'When the factory may act autonomously.' });
/** A parsed autonomy window. */
export type AutonomyWindow = z.infer<typeof autonomyWindowSchema>;

/** What the mission must leave behind, and where. */
export const artifactPolicySchema = z
  .strictObject({
    required_outputs: stringList.describe('Outputs the mission must produce.'),
    storage_scope: storageScopeSchema,
  })
  .meta({ id: 'ArtifactPolicy', description: 'Required outputs and their storage scope.' });
/** A parsed artifact policy. */
export type ArtifactPolicy = z.infer<typeof artifactPolicySchema>;

/** Where lifecycle events go. `auth_ref` names a secret (e.g. `env://...`), never holds one. */
export const missionCallbackSchema = z
  .strictObject({
    // Any http(s) URL with a host: control planes on private networks use bare service names,
    // `localhost` and IP addresses. Credentials are refused: the log would keep them forever.
    status_url: httpUrl.meta({
      format: 'uri',
      description: 'Absolute http(s) URL receiving lifecycle events; no credentials.',
    }),
    auth_mode: authModeSchema,
    auth_ref: identifier.describe('Reference to the credential, e.g. env://UA_INTERNAL_API_TOKEN.'),
  })
  .meta({ id: 'MissionCallback', description: 'Callback endpoint for lifecycle events.' });
/** A parsed callback target. */
export type MissionCallback = z.infer<typeof missionCallbackSchema>;

/**
 * The callback of a dispatch already in the log. Its `status_url` keeps only the rules every
 * earlier version of the ledger enforced, so an event accepted then (a URL with credentials, say)
 * still validates when a projection reads it; new inputs meet {@link missionCallbackSchema}.
 */
export const recordedMissionCallbackSchema = missionCallbackSchema
  .extend({
    status_url: recordedHttpUrl.meta({
      format: 'uri',
      description: 'Absolute http(s) URL receiving lifecycle events.',
    }),
  })
  .meta({
    id: 'RecordedMissionCallback',
    description: 'Callback endpoint for lifecycle events, as recorded.',
  });

/**
 * The dispatch payload of Mission Envelope v1 (seed 002 §1): what the control plane sends a
 * factory. `vp_session_id` is optional because the first dispatch may precede session allocation
 * (§1.1.2).
 */
export const missionDispatchSchema = z
  .strictObject({
    mission_id: missionId.describe('Globally unique mission id.'),
    vp_id: identifier.describe(
      'VP identity, e.g. vp.coder.primary; required for VP-routed missions.',
    ),
    vp_session_id: identifier
      .optional()
      .describe('Stable VP session id; may be omitted on first dispatch.'),
    vp_runtime_id: identifier.describe('Runtime lane handling the VP session.'),
    source_instance_id: identifier.describe('Dispatching instance.'),
    target_instance_id: identifier.describe('Factory instance receiving the mission.'),
    mission_type: missionTypeSchema,
    objective: z.string().min(1).describe('What the mission must achieve.'),
    constraints: missionConstraintsSchema,
    budget: missionBudgetSchema,
    autonomy_window: autonomyWindowSchema,
    heartbeat_interval_seconds: z
      .number()
      .int()
      .positive()
      .describe('Seconds between factory heartbeats.'),
    report_cadence: reportCadenceSchema,
    success_criteria: stringList.describe('Conditions that define success.'),
    artifact_policy: artifactPolicySchema,
    callback: missionCallbackSchema,
    idempotency_key: idempotencyKey.describe('Deduplicates retried dispatches.'),
    trace_id: identifier.describe('Trace id shared by the mission and all its events.'),
    created_at: isoDateTime.describe('When the dispatch was created, ISO-8601 with offset.'),
  })
  // No `id` here: zod would move an identified root into $defs and leave the document a bare $ref.
  .meta({
    title: 'Mission Envelope v1: dispatch payload',
    description: 'Sent by the control plane to a factory instance to start a mission.',
  });
/** A parsed Mission Envelope v1 dispatch payload. */
export type MissionDispatch = z.infer<typeof missionDispatchSchema>;

/**
 * A dispatch payload as recorded in `mission.dispatched`: {@link missionDispatchSchema} with the
 * rules every earlier version stated in its schema (the callback URL rules of then, any
 * identifier as `mission_id`), so every event a log holds still validates and no projection
 * stalls on one.
 */
export const recordedMissionDispatchSchema = missionDispatchSchema
  .extend({
    mission_id: identifier.describe('Globally unique mission id.'),
    callback: recordedMissionCallbackSchema,
  })
  .meta({
    title: 'Mission Envelope v1: dispatch payload, as recorded',
    description: 'A dispatch payload the ledger accepted, as stored in mission.dispatched.',
  });
