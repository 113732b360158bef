import type { ActivePolicy } from '../policy/active-policy.ts';
import { effectiveMode } from '../policy/active-policy.ts';
import type { RuleId } from '../policy/rule-ids.ts';

/*
 * What the trace generator intends the ledger to decide, written as a small model of the rules
 * from the generator's side: it knows what it broke in each input, and this turns that into the
 * outcome and reason codes under a policy. It shares no code with src/domain on purpose: a test
 * runs generated traces through the real command handler and compares, so the two check each
 * other.
 */

/** The decision a trace line's `recorded` states. */
export interface Intended {
  outcome: 'accepted' | 'rejected' | 'duplicate';
  reasons: string[];
}

/** How an input is signed, as the generator made it. */
export type SignatureState = 'valid' | 'missing' | 'tampered' | 'expired' | 'revoked';

const signatureCodes: Record<Exclude<SignatureState, 'valid'>, string> = {
  missing: 'SIGNATURE_MISSING',
  tampered: 'SIGNATURE_INVALID',
  expired: 'KEY_NOT_VALID_AT',
  revoked: 'KEY_REVOKED',
};

/** The fields of a callback body the rules read. */
export interface CallbackFacts {
  mission_id: string;
  vp_id: string;
  vp_session_id: string;
  vp_runtime_id: string;
  event_type: string;
  summary: string;
  trace_id: string;
  idempotency_key: string;
  emitted_at: string;
  usage: { runtime_minutes: number; llm_calls: number; estimated_cost_usd: number };
  artifact_index?: { ref: string }[];
}

/** What a mission was dispatched with, as far as the rules compare callbacks to it. */
export interface MissionFacts {
  mission_id: string;
  vp_id: string;
  vp_session_id: string;
  vp_runtime_id: string;
  target_instance_id: string;
  trace_id: string;
  budget: { max_runtime_minutes: number; max_llm_calls: number; max_cost_usd: number };
  required_outputs: readonly string[];
}

const reportedStatus: Record<string, MissionStatusModel> = {
  'mission.accepted': 'running',
  'mission.progress': 'running',
  'mission.completed': 'closed',
  'mission.failed': 'closed',
  'mission.cancelled': 'closed',
};
const allowedFrom: Record<string, readonly MissionStatusModel[]> = {
  'mission.accepted': ['queued'],
  'mission.progress': ['running'],
  'mission.completed': ['running'],
  'mission.failed': ['queued', 'running'],
  'mission.cancelled': ['queued', 'running'],
};
type MissionStatusModel = 'queued' | 'running' | 'closed';

/**
 * One mission as the generator expects the ledger to see it: whether its dispatch was accepted,
 * its status and accepted usage, and the outcome of every idempotency key already used.
 */
export class MissionIntent {
  private exists = false;
  private status: MissionStatusModel = 'queued';
  private usage = { runtime_minutes: 0, llm_calls: 0, estimated_cost_usd: 0 };
  private readonly seen = new Map<string, { body: string; decided: Intended }>();

  constructor(
    private readonly active: ActivePolicy,
    private readonly mission: MissionFacts,
  ) {}

  /** The rule's finding counts as a reason only when the policy enforces the rule. */
  private enforced(rule: RuleId): boolean {
    return effectiveMode(this.active, rule) === 'enforce';
  }

  private apart(at: string, receivedAt: string): boolean {
    const seconds = Math.floor(Math.abs(Date.parse(at) - Date.parse(receivedAt)) / 1000);
    return seconds > this.active.profile.settings.max_input_age_seconds;
  }

  /** A prior decision for the same key and body, or undefined for a new key. */
  private prior(scope: string, key: string, body: unknown): Intended | undefined {
    const found = this.seen.get(`${scope}\u0000${key}`);
    if (found === undefined) return undefined;
    if (found.body !== JSON.stringify(body))
      throw new Error(`the generator reused the key ${key} for another body`);
    return found.decided.outcome === 'rejected'
      ? found.decided
      : { outcome: 'duplicate', reasons: [] };
  }

  private remember(scope: string, key: string, body: unknown, decided: Intended): Intended {
    this.seen.set(`${scope}\u0000${key}`, { body: JSON.stringify(body), decided });
    return decided;
  }

  private verdict(reasons: string[]): Intended {
    return reasons.length === 0
      ? { outcome: 'accepted', reasons: [] }
      : { outcome: 'rejected', reasons };
  }

  /** A dispatch of this mission, created at `createdAt`, received at `receivedAt`. */
  dispatch(
    body: { idempotency_key: string },
    operator: string,
    created_at: string,
    received_at: string,
    signature: SignatureState,
  ): Intended {
    const scope = `dispatch:${operator}`;
    const prior = this.prior(scope, body.idempotency_key, body);
    if (prior !== undefined) return prior;
    const reasons: string[] = [];
    if (this.exists) reasons.push('MISSION_EXISTS');
    if (this.apart(created_at, received_at) && this.enforced('staleness'))
      reasons.push('INPUT_STALE');
    if (signature !== 'valid' && this.enforced('signature'))
      reasons.push(signatureCodes[signature]);
    const decided = this.verdict(reasons);
    if (decided.outcome === 'accepted') this.exists = true;
    return this.remember(scope, body.idempotency_key, body, decided);
  }

  /** A lifecycle callback for this mission from the factory `sender`. */
  callback(
    body: CallbackFacts,
    sender: string,
    received_at: string,
    signature: SignatureState,
  ): Intended {
    const scope = `callback:${sender}`;
    const prior = this.prior(scope, body.idempotency_key, body);
    if (prior !== undefined) return prior;
    if (!this.exists)
      return this.remember(scope, body.idempotency_key, body, {
        outcome: 'rejected',
        reasons: ['MISSION_NOT_FOUND'],
      });
    const m = this.mission;
    const closed = this.status === 'closed';
    const reasons: string[] = [];
    if (sender !== m.target_instance_id) reasons.push('FORBIDDEN_INSTANCE');
    if (closed) reasons.push('MISSION_CLOSED');
    const findings: [RuleId, string, boolean][] = [
      [
        'identity',
        'IDENTITY_MISMATCH',
        body.mission_id !== m.mission_id ||
          body.vp_id !== m.vp_id ||
          body.vp_session_id !== m.vp_session_id ||
          body.vp_runtime_id !== m.vp_runtime_id,
      ],
      ['trace', 'TRACE_MISMATCH', body.trace_id !== m.trace_id],
      [
        'transition',
        'TRANSITION_ILLEGAL',
        !closed && !(allowedFrom[body.event_type] ?? []).includes(this.status),
      ],
      [
        'usage_monotonic',
        'USAGE_DECREASED',
        body.usage.runtime_minutes < this.usage.runtime_minutes ||
          body.usage.llm_calls < this.usage.llm_calls ||
          body.usage.estimated_cost_usd < this.usage.estimated_cost_usd,
      ],
      [
        'budget',
        'BUDGET_EXCEEDED',
        body.usage.runtime_minutes > m.budget.max_runtime_minutes ||
          body.usage.llm_calls > m.budget.max_llm_calls ||
          body.usage.estimated_cost_usd > m.budget.max_cost_usd,
      ],
      [
        'required_outputs',
        'ARTIFACTS_MISSING',
        body.event_type === 'mission.completed' &&
          !m.required_outputs.every((output) =>
            (body.artifact_index ?? []).some(
              ({ ref }) => ref === output || ref.split(/[/\\]/).at(-1) === output,
            ),
          ),
      ],
      ['staleness', 'INPUT_STALE', this.apart(body.emitted_at, received_at)],
    ];
    // The decider checks the signature after every other rule (src/domain/mission/decide.ts).
    if (signature !== 'valid') findings.push(['signature', signatureCodes[signature], true]);
    for (const [rule, code, found] of findings)
      if (found && this.enforced(rule)) reasons.push(code);
    const decided = this.verdict(reasons);
    if (decided.outcome === 'accepted') {
      this.status = reportedStatus[body.event_type] ?? this.status;
      this.usage = { ...body.usage };
    }
    return this.remember(scope, body.idempotency_key, body, decided);
  }

  /** An operator's cancel request under the Idempotency-Key `key`. */
  cancel(body: unknown, operator: string, key: string): Intended {
    const scope = `cancel:${operator}`;
    const prior = this.prior(scope, key, body);
    if (prior !== undefined) return prior;
    const reasons: string[] = [];
    if (!this.exists) reasons.push('MISSION_NOT_FOUND');
    else if (this.status === 'closed') reasons.push('MISSION_CLOSED');
    return this.remember(scope, key, body, this.verdict(reasons));
  }
}
