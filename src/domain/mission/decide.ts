import type { z } from 'zod';
import {
  identifier,
  lifecycleEventSchema,
  missionCancelRequestedDataSchema,
  missionDispatchSchema,
  type Principal,
} from '../../../schemas/index.ts';
import { callbackRules, type CallbackRule } from './callback-rules.ts';
import type { MissionEvent } from './events.ts';
import { storableInput, textIssues, type TextIssue } from './input-text.ts';
import { reason, storedReasons, type Reason } from './reasons.ts';
import type { MissionState } from './state.ts';
import { workspaceKey } from './workspace.ts';

/**
 * What the decider concluded about one input. A rejection is an outcome too: its event records
 * the input as received and every reason, so the log explains itself.
 */
export interface Decision {
  outcome: 'accepted' | 'rejected';
  /** The events to append to `mission-{mission_id}`, in order. Never empty. */
  events: MissionEvent[];
  /** Every reason for a rejection, in rule order; empty when accepted. */
  reasons: Reason[];
}

/** A dispatch decision, with what the ledger needs to route and answer it. */
export interface DispatchDecision extends Decision {
  /** The mission the payload names, when it names one (even when rejected); picks the stream. */
  missionId?: string;
  /** The session the mission runs in; set when accepted. */
  vpSessionId?: string;
}

/** A dispatch as received over the wire. */
export interface DispatchInput {
  payload: unknown;
  /** The ledger's receive time, ISO-8601: the decision's only notion of "now". */
  received_at: string;
  principal: Principal;
  /** A fresh session id, used only when the payload has no `vp_session_id`. */
  allocatedSessionId: string;
}

/** A lifecycle callback as received over the wire. */
export interface CallbackInput {
  /** The mission id of the request path. */
  missionId: string;
  payload: unknown;
  received_at: string;
  principal: Principal;
}

/** An operator's request to cancel a mission. */
export interface CancelInput {
  /** Why the mission should stop: 1 to 2000 characters. */
  reason: string;
  requested_by: string;
  received_at: string;
}

/**
 * The payload for storing: JSON has no `undefined`, so an absent body is recorded as `null`; what
 * the log cannot hold (lone surrogates, non-finite numbers) is replaced, and the reasons say where.
 */
const asReceived = (payload: unknown): unknown =>
  payload === undefined ? null : storableInput(payload);

/**
 * The data of a rejected input (`mission.dispatch_rejected`, `mission.callback_rejected`): the
 * input as received, why it was refused, when and from whom. The ledger records inputs it rejects
 * before any decider runs (unknown missions, reused keys) with the same shape.
 */
export function rejectedInputData(
  input: { payload: unknown; received_at: string; principal: Principal },
  reasons: readonly { code: string; message: string }[],
) {
  return {
    input: asReceived(input.payload),
    reasons: storedReasons(reasons),
    received_at: input.received_at,
    principal: input.principal,
  };
}

function formatPath(path: readonly PropertyKey[]): string {
  if (path.length === 0) return '(root)';
  return path
    .map((key, i) =>
      typeof key === 'number' ? `[${key}]` : i === 0 ? String(key) : `.${String(key)}`,
    )
    .join('');
}

/**
 * The contract's verdict on a payload: zod's issues in zod's order, then every place that breaks
 * the text rule ({@link textIssues}). Empty when the payload may be decided on.
 */
function contractIssues(error: z.ZodError | undefined, payload: unknown): TextIssue[] {
  const issues = (error?.issues ?? []).map((issue) => ({
    path: formatPath(issue.path),
    message: issue.message,
  }));
  return [...issues, ...textIssues(payload)];
}

/** SCHEMA_INVALID naming every failing path with its message, in the message and as `issues`. */
function schemaReason(issues: readonly TextIssue[]): Reason {
  const listed = issues.map((issue) => `${issue.path}: ${issue.message}`);
  return {
    ...reason('SCHEMA_INVALID', `The payload does not match the contract: ${listed.join('; ')}.`),
    issues: issues.map(({ path, message }) => ({ path, message })),
  };
}

/**
 * Decides a dispatch (seed 002 §1). Accepted: one `mission.dispatched`, with the payload's
 * `vp_session_id` or else `allocatedSessionId` (§1.1.2), and its workspace key (§1.1.4).
 * Rejected: one `mission.dispatch_rejected` with `SCHEMA_INVALID` and/or `MISSION_EXISTS` (the
 * stream already has a dispatch; a retry with the same idempotency key never gets here).
 */
export function decideDispatch(
  state: MissionState | undefined,
  input: DispatchInput,
): DispatchDecision {
  const parsed = missionDispatchSchema.safeParse(input.payload);
  const issues = contractIssues(parsed.error, input.payload);
  const reasons: Reason[] = [];
  if (issues.length > 0) reasons.push(schemaReason(issues));
  if (state !== undefined)
    reasons.push(
      reason(
        'MISSION_EXISTS',
        `Mission ${JSON.stringify(state.mission_id)} already has a dispatch.`,
      ),
    );

  const named = parsed.success
    ? parsed.data.mission_id
    : identifier.safeParse((input.payload as { mission_id?: unknown } | null)?.mission_id).data;
  const missionId = named === undefined ? {} : { missionId: named };

  if (!parsed.success || reasons.length > 0) {
    return {
      outcome: 'rejected',
      events: [
        {
          type: 'mission.dispatch_rejected',
          data: rejectedInputData(input, reasons),
        },
      ],
      reasons,
      ...missionId,
    };
  }

  const dispatch = parsed.data;
  const allocated = dispatch.vp_session_id === undefined;
  const vpSessionId = dispatch.vp_session_id ?? input.allocatedSessionId;
  return {
    outcome: 'accepted',
    events: [
      {
        type: 'mission.dispatched',
        data: {
          input: dispatch,
          vp_session_id: vpSessionId,
          vp_session_allocated: allocated,
          workspace_key: workspaceKey(dispatch.vp_id, vpSessionId),
          received_at: input.received_at,
          principal: input.principal,
        },
      },
    ],
    reasons: [],
    missionId: dispatch.mission_id,
    vpSessionId,
  };
}

/**
 * Decides a lifecycle callback (seed 002 §2-§4). Two gates come first, `SCHEMA_INVALID` and
 * `MISSION_NOT_FOUND`; if either fails, no rule runs. Otherwise every rule of `rules` runs and
 * every violation is collected, in rule order. Accepted: one event typed as the callback's
 * `event_type`; rejected: one `mission.callback_rejected` with all reasons.
 */
export function decideCallback(
  state: MissionState | undefined,
  input: CallbackInput,
  rules: readonly CallbackRule[] = callbackRules,
): Decision {
  const parsed = lifecycleEventSchema.safeParse(input.payload);
  const issues = contractIssues(parsed.error, input.payload);
  const reasons: Reason[] = [];
  if (issues.length > 0) reasons.push(schemaReason(issues));
  if (state === undefined)
    reasons.push(
      reason('MISSION_NOT_FOUND', `Mission ${JSON.stringify(input.missionId)} does not exist.`),
    );

  if (issues.length === 0 && parsed.success && state !== undefined) {
    const context = { missionId: input.missionId, principal: input.principal };
    for (const rule of rules) {
      const message = rule.check(state, parsed.data, context);
      if (message !== undefined) reasons.push(reason(rule.code, message));
    }
  }

  if (!parsed.success || reasons.length > 0) {
    return {
      outcome: 'rejected',
      events: [
        {
          type: 'mission.callback_rejected',
          data: rejectedInputData(input, reasons),
        },
      ],
      reasons,
    };
  }

  const callback = parsed.data;
  return {
    outcome: 'accepted',
    events: [
      {
        type: callback.event_type,
        data: { callback, received_at: input.received_at, principal: input.principal },
      },
    ],
    reasons: [],
  };
}

const cancelRequestSchema = missionCancelRequestedDataSchema.pick({
  reason: true,
  requested_by: true,
});

/**
 * Decides a cancel request. Accepted: `mission.cancel_requested`, which stays pending until the
 * factory closes the mission with a final event (seed 002 §5.2). Rejected:
 * `mission.cancel_rejected` with `SCHEMA_INVALID` (reason not 1..2000 characters, empty
 * requested_by), `MISSION_NOT_FOUND` or `MISSION_CLOSED`.
 */
export function decideCancel(state: MissionState | undefined, input: CancelInput): Decision {
  const parsed = cancelRequestSchema.safeParse({
    reason: input.reason,
    requested_by: input.requested_by,
  });
  const issues = contractIssues(parsed.error, { reason: input.reason });
  const reasons: Reason[] = [];
  if (issues.length > 0) reasons.push(schemaReason(issues));
  if (state === undefined) reasons.push(reason('MISSION_NOT_FOUND'));
  else if (state.final !== null)
    reasons.push(
      reason(
        'MISSION_CLOSED',
        `Mission ${JSON.stringify(state.mission_id)} is closed with status ${JSON.stringify(state.final.status)}.`,
      ),
    );

  if (reasons.length > 0) {
    return {
      outcome: 'rejected',
      events: [
        {
          type: 'mission.cancel_rejected',
          data: {
            reason: storableInput(input.reason) as string,
            requested_by: input.requested_by,
            reasons: storedReasons(reasons),
            received_at: input.received_at,
          },
        },
      ],
      reasons,
    };
  }
  return {
    outcome: 'accepted',
    events: [
      {
        type: 'mission.cancel_requested',
        data: {
          reason: input.reason,
          requested_by: input.requested_by,
          received_at: input.received_at,
        },
      },
    ],
    reasons: [],
  };
}
