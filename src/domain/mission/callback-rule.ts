import type { LifecycleEvent, Principal } from '../../../schemas/index.ts';
import type { RuleId } from '../../policy/rule-ids.ts';
import type { ReasonCode } from './reasons.ts';
import type { MissionState } from './state.ts';

/** What a rule knows besides the state and the callback. */
export interface CallbackContext {
  /** The mission id of the request path (`/missions/{id}/events`). */
  missionId: string;
  principal: Principal;
  /** The ledger's receive time of the callback. */
  receivedAt: string;
  /** The policy profile's bound on how far emitted_at may be from the receive time. */
  maxInputAgeSeconds: number;
}

/**
 * One pure check of a schema-valid callback against an existing mission. `check` returns a
 * message for humans when the rule is violated, `undefined` when it holds.
 */
export interface CallbackRule {
  code: ReasonCode;
  /**
   * The policy rule it implements, whose mode the profile in force sets per environment; absent
   * for the structural checks (who may post, a closed mission), which always apply.
   */
  rule?: RuleId;
  check(
    state: MissionState,
    callback: LifecycleEvent,
    context: CallbackContext,
  ): string | undefined;
}
