import type { z } from 'zod';
import {
  identifier,
  lifecycleEventSchema,
  missionCancelRequestedDataSchema,
  missionDispatchSchema,
  type Principal,
} from '../../../schemas/index.ts';
import type { ActivePolicy } from '../../policy/active-policy.ts';
import { decide as decidePolicy, shouldEvaluate, type RuleFinding } from '../../policy/evaluate.ts';
import { verifyInputSignature, type KeyRing } from '../../policy/signature.ts';
import type { PolicyDecision } from '../../../schemas/policy-decision.ts';
import { callbackRules, type CallbackRule } from './callback-rules.ts';
import { staleness } from './governance-rules.ts';
import type { MissionEvent } from './events.ts';
import { storableInput, textIssues, type TextIssue } from './input-text.ts';
import { reason, storedReasons, type Reason, type ReasonCode } from './reasons.ts';
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

/**
 * The policy an input is decided under: the profile in force in this environment (with the
 * rollback toggle) and the signing keys known when it was received. Part of the command, like the
 * receive time, so deciding stays pure and a simulation can decide under another profile.
 */
export interface PolicyInForce {
  active: ActivePolicy;
  keys: KeyRing;
}

/** `Ledger-Signature` values longer than this are not stored (and fail as SIGNATURE_INVALID). */
const MAX_SIGNATURE_LENGTH = 4096;

/**
 * What the event records of the signature: the header as received, and the key ring revision the
 * rule checked it against when the rule ran, so a replay decides again under the same keys.
 */
function signatureFields(
  policy: PolicyInForce,
  header: string | undefined,
): { signature?: string; key_ring_revision?: number } {
  const signature = storableSignature(header);
  return {
    ...(signature === undefined ? {} : { signature }),
    ...(shouldEvaluate(policy.active, 'signature')
      ? { key_ring_revision: policy.keys.revision }
      : {}),
  };
}

/** The signature header as the log keeps it: a compact detached JWS is base64url and dots only. */
function storableSignature(signature: string | undefined): string | undefined {
  if (signature === undefined || signature.length > MAX_SIGNATURE_LENGTH) return undefined;
  return /^[A-Za-z0-9_.-]*$/.test(signature) ? signature : undefined;
}

/**
 * The policy's verdict on the rules it ran: the findings evaluated under the profile in force.
 * Returns the reasons that reject the input (enforced findings) and the decision stored with the
 * input. Its `outcome` is the policy's; an input may still be rejected for a structural reason
 * (the contract, a closed mission), which the event's type and reasons record.
 */
function policyVerdict(
  policy: PolicyInForce,
  findings: readonly RuleFinding[],
): { enforced: Reason[]; decision: PolicyDecision } {
  const decision = decidePolicy(policy.active, findings);
  const enforced = decision.findings
    .filter((finding) => finding.effect === 'rejected')
    .map((finding) => reason(finding.code as ReasonCode, finding.message));
  return { enforced, decision };
}

/** The signature rule, when the policy runs it: a finding unless the signature verifies. */
function signatureFinding(
  policy: PolicyInForce,
  payload: unknown,
  signature: string | undefined,
  principal: Principal,
  receivedAt: string,
): RuleFinding | undefined {
  if (!shouldEvaluate(policy.active, 'signature')) return undefined;
  const verdict = verifyInputSignature({
    payload,
    jws: signature,
    owner: principal.id,
    ring: policy.keys,
    at: receivedAt,
  });
  return verdict.ok
    ? undefined
    : { rule: 'signature', code: verdict.code, message: verdict.message };
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
  /** The `Ledger-Signature` header as received, if any. */
  signature?: string | undefined;
}

/** A lifecycle callback as received over the wire. */
export interface CallbackInput {
  /** The mission id of the request path. */
  missionId: string;
  payload: unknown;
  received_at: string;
  principal: Principal;
  /** The `Ledger-Signature` header as received, if any. */
  signature?: string | undefined;
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
  policy: PolicyInForce,
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

  // The policy rules of a dispatch: its signature and how old it is. They run on a dispatch that
  // matches the contract, whatever else is wrong with it.
  const findings: RuleFinding[] = [];
  if (parsed.success) {
    const unsigned = signatureFinding(
      policy,
      input.payload,
      input.signature,
      input.principal,
      input.received_at,
    );
    if (unsigned !== undefined) findings.push(unsigned);
    if (shouldEvaluate(policy.active, 'staleness')) {
      const stale = staleness(
        'created_at',
        parsed.data.created_at,
        input.received_at,
        policy.active.profile.settings.max_input_age_seconds,
      );
      if (stale !== undefined)
        findings.push({ rule: 'staleness', code: 'INPUT_STALE', message: stale });
    }
  }
  const verdict = policyVerdict(policy, findings);
  reasons.push(...verdict.enforced);
  const signed = signatureFields(policy, input.signature);

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
          data: {
            ...rejectedInputData(input, reasons),
            policy: verdict.decision,
            ...signed,
          },
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
          policy: verdict.decision,
          ...signed,
        },
      },
    ],
    reasons: [],
    missionId: dispatch.mission_id,
    vpSessionId,
  };
}

/**
 * Decides a lifecycle callback. Two gates come first, `SCHEMA_INVALID` and `MISSION_NOT_FOUND`;
 * if either fails, no rule runs. Otherwise the structural checks (a closed mission, the sender's
 * instance) and every policy rule the profile in force does not turn off run, and every finding
 * is collected, in rule order: an enforced one rejects, a warned one is recorded on the accepted
 * event, a shadowed one is recorded only. Accepted: one event typed as the callback's
 * `event_type`; rejected: one `mission.callback_rejected` with all reasons. Either way the event
 * carries the policy's decision (`policy`) and the signature as received.
 */
export function decideCallback(
  state: MissionState | undefined,
  input: CallbackInput,
  policy: PolicyInForce,
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

  const findings: RuleFinding[] = [];
  if (issues.length === 0 && parsed.success && state !== undefined) {
    const context = {
      missionId: input.missionId,
      principal: input.principal,
      receivedAt: input.received_at,
      maxInputAgeSeconds: policy.active.profile.settings.max_input_age_seconds,
    };
    for (const rule of rules) {
      if (rule.rule !== undefined && !shouldEvaluate(policy.active, rule.rule)) continue;
      const message = rule.check(state, parsed.data, context);
      if (message === undefined) continue;
      if (rule.rule === undefined) reasons.push(reason(rule.code, message));
      else findings.push({ rule: rule.rule, code: rule.code, message });
    }
    const unsigned = signatureFinding(
      policy,
      input.payload,
      input.signature,
      input.principal,
      input.received_at,
    );
    if (unsigned !== undefined) findings.push(unsigned);
  }
  const verdict = policyVerdict(policy, findings);
  reasons.push(...verdict.enforced);
  const signed = signatureFields(policy, input.signature);

  if (!parsed.success || reasons.length > 0) {
    return {
      outcome: 'rejected',
      events: [
        {
          type: 'mission.callback_rejected',
          data: {
            ...rejectedInputData(input, reasons),
            policy: verdict.decision,
            ...signed,
          },
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
        data: {
          callback,
          received_at: input.received_at,
          principal: input.principal,
          policy: verdict.decision,
          ...signed,
        },
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
