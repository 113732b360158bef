import canonicalizeModule from 'canonicalize';
import type { PolicyActivatedData, PolicyDecision, Principal } from '../../../schemas/index.ts';
import { KEYS_STREAM, POLICY_STREAM, missionIdOf } from '../../../schemas/streams.ts';
import { activatePolicy } from '../../policy/active-policy.ts';
import { parseProfile, type PolicyProfile } from '../../policy/profile.ts';
import type { KeyRing } from '../../policy/signature.ts';
import type { RecordedEvent } from '../decider.ts';
import {
  evolveKeyRegistry,
  initialKeyRegistryState,
  keyRingFromState,
  type KeyRegistryState,
} from '../signing-keys/index.ts';
import { decideCallback, decideDispatch, type PolicyInForce } from './decide.ts';
import { evolveMission, isLifecycleEventType, type MissionState } from './state.ts';

const canonicalize = canonicalizeModule as unknown as (input: unknown) => string | undefined;

/** An event of the log as the replayer reads it. */
export interface LoggedEvent extends RecordedEvent {
  stream: string;
  revision: number;
  position: number;
}

/** A recorded decision that deciding again does not reproduce. */
export interface DecisionDifference {
  position: number;
  stream: string;
  type: string;
  /** Why: the decision differs, or it cannot be decided again (its profile is not in the log). */
  problem: string;
  recorded: { type: string; outcome: string | undefined; reasons: string[] };
  decided?: { type: string; outcome: string | undefined; reasons: string[] };
}

/** The data of a decided input, as far as replay reads it. */
interface DecidedData {
  input?: unknown;
  callback?: unknown;
  received_at: string;
  principal: Principal;
  policy?: PolicyDecision;
  signature?: string;
  key_ring_revision?: number;
  vp_session_id?: string;
  reasons?: { code: string }[];
}

const summary = (event: RecordedEvent) => {
  const data = event.data as DecidedData;
  return {
    type: event.type,
    outcome: data.policy?.outcome,
    reasons: (data.reasons ?? []).map((r) => r.code),
  };
};

/**
 * Decides every recorded input again, from the log alone, and says where the log disagrees with
 * its own decisions. Feed it the whole log in position order ({@link observe}); it folds each
 * mission's stream, the key registry (`ledger-keys`) and the activated profiles (`ledger-policy`)
 * as it goes, and for each dispatch or callback that recorded a policy decision it runs the same
 * decider under the same profile (found by its digest among the activations), environment,
 * override and key ring revision, on the mission as it stood before the input, and compares the
 * event it makes with the one recorded, byte for byte (RFC 8785). Pure: no clock, no I/O.
 *
 * Inputs that recorded no decision (written before policies, or refused before any rule could
 * run: a reused key, a stranger) are folded but not decided again. A decision whose profile digest
 * no activation in the log names cannot be reproduced: that is a difference too.
 */
export class DecisionReplayer {
  private readonly missions = new Map<string, MissionState | undefined>();
  private readonly profiles = new Map<string, PolicyProfile>();
  private readonly keyStates: KeyRegistryState[] = [initialKeyRegistryState()];
  private readonly rings = new Map<number, KeyRing>();
  /** Decisions decided again. */
  checked = 0;

  /** Takes the next event of the log; returns the difference when its decision does not hold. */
  observe(event: LoggedEvent): DecisionDifference | undefined {
    if (event.stream === POLICY_STREAM && event.type === 'policy.activated') {
      const data = event.data as PolicyActivatedData;
      try {
        this.profiles.set(data.digest, parseProfile(data.profile));
      } catch {
        // A profile that no longer parses decides nothing: decisions naming it are reported.
      }
      return undefined;
    }
    if (event.stream === KEYS_STREAM) {
      this.keyStates.push(evolveKeyRegistry(this.keyStates.at(-1)!, event));
      return undefined;
    }
    const missionId = missionIdOf(event.stream);
    if (missionId === undefined) return undefined;
    const before = this.missions.get(event.stream);
    let after: MissionState | undefined;
    try {
      after = evolveMission(before, event);
    } catch (error) {
      // Data that no longer matches its schema (an edited outcome, say): the mission folds on
      // without it, and the event is reported.
      return {
        position: event.position,
        stream: event.stream,
        type: event.type,
        problem: `the stored event is malformed: ${error instanceof Error ? error.message : String(error)}`,
        recorded: summary(event),
      };
    }
    const difference = this.redecide(event, missionId, before);
    this.missions.set(event.stream, after);
    return difference;
  }

  private redecide(
    event: LoggedEvent,
    missionId: string,
    before: MissionState | undefined,
  ): DecisionDifference | undefined {
    const data = event.data as DecidedData;
    if (data.policy === undefined) return undefined;
    const dispatch =
      event.type === 'mission.dispatched' || event.type === 'mission.dispatch_rejected';
    const callback = isLifecycleEventType(event.type) || event.type === 'mission.callback_rejected';
    if (!dispatch && !callback) return undefined;
    const recorded = summary(event);
    const profile = this.profiles.get(data.policy.profile.digest);
    if (profile === undefined) {
      return {
        position: event.position,
        stream: event.stream,
        type: event.type,
        problem: `no policy.activated in the log has the profile digest ${data.policy.profile.digest} this decision names`,
        recorded,
      };
    }
    const policy: PolicyInForce = {
      active: activatePolicy(profile, data.policy.environment, data.policy.override),
      keys: this.ringAt(data.key_ring_revision ?? -1),
    };
    const payload = dispatch
      ? data.input
      : isLifecycleEventType(event.type)
        ? data.callback
        : data.input;
    const common = {
      payload,
      received_at: data.received_at,
      principal: data.principal,
      signature: data.signature,
    };
    const decision = dispatch
      ? decideDispatch(before, { ...common, allocatedSessionId: data.vp_session_id ?? '' }, policy)
      : decideCallback(before, { ...common, missionId }, policy);
    this.checked += 1;
    const made = decision.events[0];
    if (made !== undefined && made.type === event.type && same(made.data, event.data))
      return undefined;
    return {
      position: event.position,
      stream: event.stream,
      type: event.type,
      problem: 'deciding the recorded input again under its recorded policy gives another event',
      recorded,
      ...(made === undefined ? {} : { decided: summary(made) }),
    };
  }

  /** The key ring as of `revision` of `ledger-keys` (-1: no keys). */
  private ringAt(revision: number): KeyRing {
    let ring = this.rings.get(revision);
    if (ring === undefined) {
      const state = this.keyStates[Math.min(revision + 1, this.keyStates.length - 1)]!;
      ring = keyRingFromState(state);
      this.rings.set(revision, ring);
    }
    return ring;
  }
}

/** Equal as JSON values: what the log stores of both is their canonical form. */
function same(a: unknown, b: unknown): boolean {
  return canonicalize(JSON.parse(JSON.stringify(a))) === canonicalize(b);
}
