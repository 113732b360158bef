import {
  cancelRequestBodySchema,
  idempotencyKey,
  missionId as missionIdSchema,
} from '../../../schemas/index.ts';
import { missionIdOf, missionStream } from '../../../schemas/streams.ts';
import type { Aggregate } from '../aggregate.ts';
import type { CommandMetadata, Decider, Reason, RecordedEvent } from '../decider.ts';
import { actorOf } from '../idempotency-key.ts';
import {
  decideCallback,
  decideCancel,
  decideDispatch,
  rejectedInputData,
  type Decision,
  type PolicyInForce,
} from './decide.ts';
import type { MissionEvent } from './events.ts';
import { recordedInput, storedScopedKey, type InputKind } from './idempotency.ts';
import { storableInput, textIssues } from './input-text.ts';
import { storedReasons } from './reasons.ts';
import { evolveMission, initialMissionState, type MissionState } from './state.ts';

/** What a mission command carries besides its data: the common metadata and the policy in force. */
export interface MissionCommandMetadata extends CommandMetadata {
  policy: PolicyInForce;
}

/** `POST /v1/missions`: a control plane dispatches a mission. */
export interface DispatchMission {
  type: 'dispatchMission';
  data: {
    /** The dispatch payload as received. */
    payload: unknown;
    /** A fresh session id, used only when the payload has no `vp_session_id`. */
    allocated_session_id: string;
    /** The `Ledger-Signature` header as received. */
    signature?: string | undefined;
  };
  metadata: MissionCommandMetadata;
}

/** `POST /v1/missions/{id}/events`: a factory reports on a mission. */
export interface PostCallback {
  type: 'postCallback';
  data: { mission_id: string; payload: unknown; signature?: string | undefined };
  metadata: MissionCommandMetadata;
}

/**
 * `POST /v1/missions/{id}/cancel`: an operator asks the factory to stop. The key is the
 * `Idempotency-Key` header, in `metadata.idempotency_key`.
 */
export interface CancelMission {
  type: 'cancelMission';
  data: { mission_id: string; body: unknown };
  metadata: MissionCommandMetadata;
}

/** Every command the mission aggregate takes. */
export type MissionCommand = DispatchMission | PostCallback | CancelMission;

const KIND: Record<MissionCommand['type'], InputKind> = {
  dispatchMission: 'dispatch',
  postCallback: 'callback',
  cancelMission: 'cancel',
};

const REJECTED_TYPE: Record<InputKind, MissionEvent['type']> = {
  dispatch: 'mission.dispatch_rejected',
  callback: 'mission.callback_rejected',
  cancel: 'mission.cancel_rejected',
};

const quote = (value: string) => JSON.stringify(value);

/** A field of the payload that may serve as a key or a trace id: 1..256 characters of text. */
function usableField(payload: unknown, name: string): string | undefined {
  if (typeof payload !== 'object' || payload === null || Array.isArray(payload)) return undefined;
  const value = (payload as Record<string, unknown>)[name];
  return typeof value === 'string' &&
    idempotencyKey.safeParse(value).success &&
    value.isWellFormed()
    ? value
    : undefined;
}

/** Why a cancel's `Idempotency-Key` cannot be a key, or undefined when it can. */
function keyIssue(key: string): string | undefined {
  const parsed = idempotencyKey.safeParse(key);
  if (!parsed.success) return parsed.error.issues.map((i) => i.message).join('; ');
  return textIssues(key)[0]?.message;
}

/** A cancel's reason as received, whatever it is (it is recorded with a rejection). */
function reasonText(body: unknown): string {
  const value =
    typeof body === 'object' && body !== null ? (body as { reason?: unknown }).reason : undefined;
  return typeof value === 'string' ? value : '';
}

const payloadOf = (command: MissionCommand): unknown =>
  command.type === 'cancelMission' ? command.data.body : command.data.payload;

/**
 * Decides a cancel request as received: the body (`{"reason": "..."}`, 1 to 2000 characters of
 * text) and the optional `Idempotency-Key` (1 to 256 characters of text) are checked here, so an
 * invalid one is recorded like any other rejected input (`SCHEMA_INVALID`, under no key); a valid
 * one goes to {@link decideCancel}.
 */
export function decideCancelRequest(
  state: MissionState | undefined,
  command: CancelMission,
): Decision {
  const { body } = command.data;
  const { received_at, principal, idempotency_key: key } = command.metadata;
  const parsed = cancelRequestBodySchema.safeParse(body);
  const keyProblem = key === undefined ? undefined : keyIssue(key);
  const requestedBy = actorOf(principal);
  if (parsed.success && keyProblem === undefined)
    return decideCancel(state, {
      reason: parsed.data.reason,
      requested_by: requestedBy,
      received_at,
    });
  const issues = [
    ...(parsed.success
      ? []
      : parsed.error.issues.map((i) => ({
          path: i.path.join('.') || '(body)',
          message: i.message,
        }))),
    ...textIssues(body),
    // A header, named as such: the path of an issue in the request rather than in the body.
    ...(keyProblem === undefined ? [] : [{ path: 'Idempotency-Key', message: keyProblem }]),
  ];
  const listed = issues.map((i) => `${i.path}: ${i.message}`);
  const reasons = [
    {
      code: 'SCHEMA_INVALID' as const,
      message: `A cancel is {"reason": "..."} (1 to 2000 characters, no other field) with an optional Idempotency-Key of 1 to 256 characters: ${listed.join('; ')}`,
      issues,
    },
  ];
  const data = {
    reason: storableInput(reasonText(body)) as string,
    requested_by: requestedBy,
    reasons: storedReasons(reasons),
    received_at,
  };
  return { outcome: 'rejected', events: [{ type: 'mission.cancel_rejected', data }], reasons };
}

/** The mission decider: the stream `mission-{mission_id}` folded, and each command decided on it. */
export const missionDecider: Decider<MissionCommand, MissionState | undefined, MissionEvent> = {
  initialState: initialMissionState,
  evolve: evolveMission,
  decide(command, state) {
    const { received_at, principal, policy } = command.metadata;
    switch (command.type) {
      case 'dispatchMission':
        return decideDispatch(
          state,
          {
            payload: command.data.payload,
            received_at,
            principal,
            allocatedSessionId: command.data.allocated_session_id,
            signature: command.data.signature,
          },
          policy,
        );
      case 'postCallback':
        return decideCallback(
          state,
          {
            missionId: command.data.mission_id,
            payload: command.data.payload,
            received_at,
            principal,
            signature: command.data.signature,
          },
          policy,
        );
      case 'cancelMission':
        return decideCancelRequest(state, command);
    }
  },
};

/**
 * Missions as the command handler runs them. A dispatch names its stream by its `mission_id`;
 * callbacks and cancels by the path's. Only a mission with an accepted dispatch admits callbacks
 * and cancels, and a factory may act only on missions addressed to its own instance: any other
 * sender is answered MISSION_NOT_FOUND, alike whether the mission is missing or another's, so it
 * learns nothing about it (the recorded reason says which).
 */
export const missionAggregate: Aggregate<MissionCommand, MissionState | undefined, MissionEvent> = {
  decider: missionDecider,

  streamOf(command) {
    const id =
      command.type === 'dispatchMission'
        ? (command.data.payload as { mission_id?: unknown } | null)?.mission_id
        : command.data.mission_id;
    return missionIdSchema.safeParse(id).success ? missionStream(id as string) : undefined;
  },

  admit(command, state) {
    if (command.type === 'dispatchMission') return undefined;
    const id = command.data.mission_id;
    const notFound: Reason = { code: 'MISSION_NOT_FOUND', message: `No mission ${id}.` };
    if (state === undefined) return { recorded: notFound, answered: notFound };
    const { principal } = command.metadata;
    if (principal.role !== 'factory' || principal.id === state.target_instance_id) return undefined;
    return {
      recorded: {
        code: 'FORBIDDEN_INSTANCE',
        message: `Mission ${quote(id)} is dispatched to instance ${quote(state.target_instance_id)}, not ${quote(principal.id)}.`,
      },
      answered: notFound,
    };
  },

  keyOf(command) {
    const space = KIND[command.type];
    if (command.type !== 'cancelMission') {
      const key = usableField(command.data.payload, 'idempotency_key');
      return key === undefined ? undefined : { space, key };
    }
    const key = command.metadata.idempotency_key;
    return key === undefined || keyIssue(key) !== undefined ? undefined : { space, key };
  },

  storedKeyOf: storedScopedKey,
  recordedInput,

  inputOf(command) {
    if (command.type !== 'cancelMission') return storableInput(command.data.payload ?? null);
    const parsed = cancelRequestBodySchema.safeParse(command.data.body);
    return {
      reason: storableInput(parsed.success ? parsed.data.reason : reasonText(command.data.body)),
    };
  },

  unattributed(command, reasons) {
    const { received_at, principal } = command.metadata;
    const missionId =
      command.type === 'dispatchMission'
        ? (command.data.payload as { mission_id?: unknown } | null)?.mission_id
        : command.data.mission_id;
    return {
      type: REJECTED_TYPE[KIND[command.type]],
      data: {
        ...rejectedInputData({ payload: payloadOf(command), received_at, principal }, reasons),
        mission_id: typeof missionId === 'string' ? (storableInput(missionId) as string) : null,
      },
    };
  },

  keyReused(command, reason): RecordedEvent {
    const { received_at, principal } = command.metadata;
    if (command.type === 'cancelMission') {
      return {
        type: 'mission.cancel_rejected',
        data: {
          reason: storableInput(reasonText(command.data.body)) as string,
          requested_by: actorOf(principal),
          reasons: storedReasons([reason]),
          received_at,
        },
      };
    }
    return {
      type: REJECTED_TYPE[KIND[command.type]],
      data: rejectedInputData({ payload: command.data.payload, received_at, principal }, [reason]),
    };
  },

  answerOf(stream, event) {
    const data = event?.data as
      | {
          vp_session_id?: unknown;
          policy?: { findings?: { effect: string; code: string; message: string }[] };
        }
      | undefined;
    const sessionId = event?.type === 'mission.dispatched' ? data?.vp_session_id : undefined;
    // What the policy in force let through with a warning: the sender learns it at once, and a
    // retry is answered the same from the recorded event.
    const warnings = (data?.policy?.findings ?? [])
      .filter((finding) => finding.effect === 'warned')
      .map(({ code, message }) => ({ code, message }));
    return {
      mission_id: missionIdOf(stream),
      ...(typeof sessionId === 'string' ? { vp_session_id: sessionId } : {}),
      ...(warnings.length === 0 ? {} : { warnings }),
    };
  },

  traceOf(command) {
    return command.type === 'cancelMission'
      ? undefined
      : usableField(command.data.payload, 'trace_id');
  },
};
