import { safeParseStored } from '../../../schemas/parse-memo.ts';
import type { z } from 'zod';
import {
  finalStatuses,
  lifecycleEventTypeSchema,
  missionCallbackAcceptedDataSchema,
  missionCallbackRejectedDataSchema,
  missionCancelRejectedDataSchema,
  missionCancelRequestedDataSchema,
  missionDispatchedDataSchema,
  missionDispatchRejectedDataSchema,
  type ArtifactIndexEntry,
  type FinalStatus,
  type LifecycleEventType,
  type MissionBudget,
  type MissionCallbackAcceptedData,
  type MissionDispatch,
  type MissionDispatchedData,
  type MissionStatus,
  type MissionUsage,
} from '../../../schemas/index.ts';
import { LedgerError } from '../../errors.ts';
import type { RecordedEvent } from './events.ts';

/** The latest accepted lifecycle event, in brief. */
export interface MissionLastEvent {
  type: LifecycleEventType;
  summary: string;
  emitted_at: string;
  received_at: string;
}

/**
 * How a mission ended: from the first accepted final event (seed 002 §4.4, §6.3). The decider
 * requires `next_action` and `artifact_index` on final events; they are nullable here because a
 * policy mode that only warns may let an incomplete final event through.
 */
export interface MissionFinal {
  status: FinalStatus;
  summary: string;
  next_action: string | null;
  artifact_index: ArtifactIndexEntry[] | null;
}

/** A command to the factory that the ledger accepted and that no final event has closed yet. */
export interface PendingCancel {
  type: 'cancel';
  reason: string;
  requested_by: string;
  requested_at: string;
}

/** Commands waiting for the factory to act on them. */
export type PendingCommand = PendingCancel;

/** A mission as its stream tells it: the fold of `mission-{mission_id}`. */
export interface MissionState {
  mission_id: string;
  /** `queued` after the dispatch, then the status of the latest accepted callback. */
  status: MissionStatus;
  /** The dispatch exactly as accepted (its `vp_session_id` may be absent: see below). */
  dispatch: MissionDispatch;
  /** The dispatch's session, or the one the ledger allocated. */
  vp_session_id: string;
  workspace_key: string;
  trace_id: string;
  target_instance_id: string;
  /** Usage of the latest accepted callback; zero before the first. */
  usage: MissionUsage;
  budget: MissionBudget;
  last_event: MissionLastEvent | null;
  /** Union of the accepted callbacks' `artifact_refs`, in first-seen order, without duplicates. */
  artifacts: string[];
  /** Set by the first accepted final event; a closed mission stays closed. */
  final: MissionFinal | null;
  /** Cancel requests; each stays pending until a final event closes the mission. */
  pending_commands: PendingCommand[];
  /** Accepted lifecycle callbacks. */
  accepted_count: number;
  /** Rejected inputs of any kind (dispatch, callback, cancel) recorded after the dispatch. */
  rejected_count: number;
  /** `received_at` of the dispatch. */
  dispatched_at: string;
  /** `received_at` of the latest event applied. */
  updated_at: string;
}

/** True for the statuses that close a mission (seed 002 §4.4). */
export function isFinalStatus(status: MissionStatus): status is FinalStatus {
  return (finalStatuses as readonly MissionStatus[]).includes(status);
}

/** True when `type` is one of the eight lifecycle event types of seed 002 §2. */
export function isLifecycleEventType(type: string): type is LifecycleEventType {
  return (lifecycleEventTypeSchema.options as readonly string[]).includes(type);
}

/** The state before the stream's first event: no mission. */
export function initialMissionState(): MissionState | undefined {
  return undefined;
}

/** Parses stored data; data that does not match its type's schema means the log is not intact. */
function parseData<T>(type: string, schema: z.ZodType<T>, data: unknown): T {
  const result = safeParseStored(schema, data);
  if (result.success) return result.data;
  throw new LedgerError('LOG_INTEGRITY_VIOLATION', `Stored ${type} event data is malformed.`, {
    type,
    issues: result.error.issues.map((issue) => ({
      path: issue.path.map(String),
      message: issue.message,
    })),
  });
}

const rejectionSchemas: Record<
  'mission.dispatch_rejected' | 'mission.callback_rejected' | 'mission.cancel_rejected',
  z.ZodType<{ received_at: string }>
> = {
  'mission.dispatch_rejected': missionDispatchRejectedDataSchema,
  'mission.callback_rejected': missionCallbackRejectedDataSchema,
  'mission.cancel_rejected': missionCancelRejectedDataSchema,
};

function started(data: MissionDispatchedData): MissionState {
  const dispatch = data.input;
  return {
    mission_id: dispatch.mission_id,
    status: 'queued',
    dispatch,
    vp_session_id: data.vp_session_id,
    workspace_key: data.workspace_key,
    trace_id: dispatch.trace_id,
    target_instance_id: dispatch.target_instance_id,
    usage: { runtime_minutes: 0, llm_calls: 0, estimated_cost_usd: 0 },
    budget: dispatch.budget,
    last_event: null,
    artifacts: [],
    final: null,
    pending_commands: [],
    accepted_count: 0,
    rejected_count: 0,
    dispatched_at: data.received_at,
    updated_at: data.received_at,
  };
}

function withCallback(state: MissionState, data: MissionCallbackAcceptedData): MissionState {
  const callback = data.callback;
  const artifacts = [...state.artifacts];
  for (const ref of callback.artifact_refs) if (!artifacts.includes(ref)) artifacts.push(ref);
  const final: MissionFinal | null =
    state.final ??
    (isFinalStatus(callback.status)
      ? {
          status: callback.status,
          summary: callback.summary,
          next_action: callback.next_action ?? null,
          artifact_index: callback.artifact_index ?? null,
        }
      : null);
  const closes = state.final === null && final !== null;
  return {
    ...state,
    status: state.final === null ? callback.status : state.status,
    usage: callback.usage,
    last_event: {
      type: callback.event_type,
      summary: callback.summary,
      emitted_at: callback.emitted_at,
      received_at: data.received_at,
    },
    artifacts,
    final,
    pending_commands: closes ? [] : state.pending_commands,
    accepted_count: state.accepted_count + 1,
    updated_at: data.received_at,
  };
}

/**
 * The fold of a mission stream: applies one event to the state. Pure and non-mutating.
 *
 * - `mission.dispatched` starts the state with status `queued` (a second one is ignored);
 * - an accepted lifecycle event sets status, usage, last event and artifacts, and the first final
 *   one closes the mission and clears the pending commands;
 * - `mission.cancel_requested` adds a pending cancel;
 * - rejections only count (`rejected_count`);
 * - events before the dispatch leave the state `undefined`, and unknown types are ignored, so
 *   streams written by later versions still fold.
 *
 * Throws `LOG_INTEGRITY_VIOLATION` when a known event's data does not match its schema.
 */
export function evolveMission(
  state: MissionState | undefined,
  event: RecordedEvent,
): MissionState | undefined {
  switch (event.type) {
    case 'mission.dispatched':
      if (state !== undefined) return state;
      return started(parseData(event.type, missionDispatchedDataSchema, event.data));
    case 'mission.dispatch_rejected':
    case 'mission.callback_rejected':
    case 'mission.cancel_rejected': {
      if (state === undefined) return undefined;
      const { received_at } = parseData(event.type, rejectionSchemas[event.type], event.data);
      return { ...state, rejected_count: state.rejected_count + 1, updated_at: received_at };
    }
    case 'mission.cancel_requested': {
      if (state === undefined) return undefined;
      const data = parseData(event.type, missionCancelRequestedDataSchema, event.data);
      return {
        ...state,
        pending_commands:
          state.final === null
            ? [
                ...state.pending_commands,
                {
                  type: 'cancel',
                  reason: data.reason,
                  requested_by: data.requested_by,
                  requested_at: data.received_at,
                },
              ]
            : state.pending_commands,
        updated_at: data.received_at,
      };
    }
    default:
      if (state === undefined || !isLifecycleEventType(event.type)) return state;
      return withCallback(
        state,
        parseData(event.type, missionCallbackAcceptedDataSchema, event.data),
      );
  }
}

/** Folds a whole stream, oldest first: `undefined` when it holds no accepted dispatch. */
export function foldMission(events: Iterable<RecordedEvent>): MissionState | undefined {
  let state = initialMissionState();
  for (const event of events) state = evolveMission(state, event);
  return state;
}
