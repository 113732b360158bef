import { LedgerError, isLedgerError, type ErrorCode } from '../errors.ts';
import {
  decideCallback,
  decideCancel,
  decideDispatch,
  findPrior,
  foldMission,
  sameInput,
  type MissionState,
} from '../domain/mission/index.ts';
import type { Principal } from '../http/auth.ts';
import type { EventStore, NewEvent, StoredEvent } from '../store/port.ts';
import { registerVpSession } from './vp-sessions.ts';

/** A reason a command was rejected: a domain rule's, or the ledger's own (a reused key). */
interface Reason {
  code: ErrorCode;
  message: string;
}

/** Where inputs that name no existing mission are recorded, so no rejection goes unlogged. */
export const REJECTIONS_STREAM = 'ledger-rejections';

/** How often a command reloads and re-decides after another writer moved the stream. */
const MAX_ATTEMPTS = 8;

const MISSION_ID = /^[A-Za-z0-9][A-Za-z0-9._:-]{0,199}$/;

export const missionStream = (missionId: string) => `mission-${missionId}`;

/** The answer to an accepted (or replayed) command. */
export interface CommandResult {
  mission_id: string;
  revision: number;
  position: number;
  duplicate: boolean;
}

export interface LedgerDeps {
  store: EventStore;
  /** The receive time stamped on every input: the only clock the decide path sees. */
  now: () => Date;
  /** Allocates VP session ids. */
  newId: () => string;
}

/**
 * The command path: load the mission stream, fold it, decide (pure), append with the stream's
 * revision as the expected revision; when another writer got there first, reload and decide
 * again. The one place where domain, store and clock meet.
 *
 * Idempotency is answered from the log: a command whose idempotency key the stream already holds
 * returns the original outcome (nothing appended) when the payload is the same, and is rejected
 * with IDEMPOTENCY_KEY_REUSED (recorded, under no key) when it differs.
 */
export class MissionLedger {
  constructor(private readonly deps: LedgerDeps) {}

  async dispatch(
    payload: unknown,
    principal: Principal,
  ): Promise<CommandResult & { vp_session_id: string }> {
    const receivedAt = this.deps.now().toISOString();
    const missionId = field(payload, 'mission_id');
    const key = field(payload, 'idempotency_key');
    if (missionId === undefined || !MISSION_ID.test(missionId) || key === undefined) {
      const reason: Reason = {
        code: 'SCHEMA_INVALID',
        message:
          'A dispatch needs a mission_id (1-200 of A-Z a-z 0-9 . _ : -) and an idempotency_key.',
      };
      await this.recordUnattributed(
        'mission.dispatch_rejected',
        payload,
        [reason],
        receivedAt,
        principal,
      );
      throw rejection([reason]);
    }
    const stream = missionStream(missionId);
    return this.withRetries(async () => {
      const events = await this.deps.store.readStream(stream);
      const prior = findPrior(events, key);
      if (prior !== undefined)
        return this.replay(prior, payload, stream, receivedAt, principal, 'dispatch');
      const state = foldMission(events);
      const decision = decideDispatch(state, {
        payload,
        received_at: receivedAt,
        principal,
        allocatedSessionId: this.deps.newId(),
      });
      const appended = await this.append(stream, events, decision.events, key, payload, principal);
      if (decision.outcome === 'rejected') throw rejection(decision.reasons, appended);
      const dispatched = decision.events[0]?.data as {
        vp_session_id: string;
        workspace_key: string;
      };
      await registerVpSession(this.deps.store, payload, dispatched);
      return { ...appended, mission_id: missionId, vp_session_id: dispatched.vp_session_id };
    });
  }

  async callback(
    missionId: string,
    payload: unknown,
    principal: Principal,
  ): Promise<CommandResult> {
    const receivedAt = this.deps.now().toISOString();
    const key = field(payload, 'idempotency_key');
    if (!MISSION_ID.test(missionId)) {
      const reason: Reason = { code: 'MISSION_NOT_FOUND', message: `No mission ${missionId}.` };
      await this.recordUnattributed(
        'mission.callback_rejected',
        payload,
        [reason],
        receivedAt,
        principal,
        missionId,
      );
      throw rejection([reason]);
    }
    const stream = missionStream(missionId);
    return this.withRetries(async () => {
      const events = await this.deps.store.readStream(stream);
      if (events.length === 0) {
        const reason: Reason = { code: 'MISSION_NOT_FOUND', message: `No mission ${missionId}.` };
        await this.recordUnattributed(
          'mission.callback_rejected',
          payload,
          [reason],
          receivedAt,
          principal,
          missionId,
        );
        throw rejection([reason]);
      }
      const prior = key === undefined ? undefined : findPrior(events, key);
      if (prior !== undefined)
        return this.replay(prior, payload, stream, receivedAt, principal, 'callback');
      const decision = decideCallback(foldMission(events), {
        missionId,
        payload,
        received_at: receivedAt,
        principal,
      });
      const appended = await this.append(stream, events, decision.events, key, payload, principal);
      if (decision.outcome === 'rejected') throw rejection(decision.reasons, appended);
      return { ...appended, mission_id: missionId };
    });
  }

  async cancel(
    missionId: string,
    input: { reason: string; idempotencyKey?: string },
    principal: Principal,
  ): Promise<CommandResult> {
    const receivedAt = this.deps.now().toISOString();
    const stream = missionStream(missionId);
    const payload = { reason: input.reason };
    return this.withRetries(async () => {
      const events = MISSION_ID.test(missionId) ? await this.deps.store.readStream(stream) : [];
      if (events.length === 0) {
        const reason: Reason = { code: 'MISSION_NOT_FOUND', message: `No mission ${missionId}.` };
        await this.recordUnattributed(
          'mission.cancel_rejected',
          payload,
          [reason],
          receivedAt,
          principal,
          missionId,
        );
        throw rejection([reason]);
      }
      const key = input.idempotencyKey;
      const prior = key === undefined ? undefined : findPrior(events, key);
      if (prior !== undefined)
        return this.replay(prior, payload, stream, receivedAt, principal, 'cancel');
      const decision = decideCancel(foldMission(events), {
        reason: input.reason,
        requested_by: `${principal.role}:${principal.id}`,
        received_at: receivedAt,
      });
      const appended = await this.append(stream, events, decision.events, key, payload, principal);
      if (decision.outcome === 'rejected') throw rejection(decision.reasons, appended);
      return { ...appended, mission_id: missionId };
    });
  }

  /** The mission folded from its stream, with the stream's revision; undefined if absent. */
  async mission(missionId: string): Promise<{ state: MissionState; revision: number } | undefined> {
    if (!MISSION_ID.test(missionId)) return undefined;
    const events = await this.deps.store.readStream(missionStream(missionId));
    const state = foldMission(events);
    const last = events.at(-1);
    return state === undefined || last === undefined
      ? undefined
      : { state, revision: last.revision };
  }

  /** A page of the mission's stream, by revision. */
  async timeline(
    missionId: string,
    fromRevision: number,
    limit: number,
  ): Promise<StoredEvent[] | undefined> {
    if (!MISSION_ID.test(missionId)) return undefined;
    const events = await this.deps.store.readStream(missionStream(missionId), {
      fromRevision,
      limit,
    });
    if (events.length > 0 || fromRevision > 0) return events;
    return (await this.deps.store.readStream(missionStream(missionId), { limit: 1 })).length === 0
      ? undefined
      : [];
  }

  /**
   * A command whose key the stream already holds: the same payload gets the original outcome
   * (an accepted result, or the original rejection) and appends nothing; another payload under
   * the key is itself rejected and recorded.
   */
  private async replay(
    prior: StoredEvent,
    payload: unknown,
    stream: string,
    receivedAt: string,
    principal: Principal,
    kind: 'dispatch' | 'callback' | 'cancel',
  ): Promise<CommandResult & { vp_session_id: string }> {
    const missionId = stream.slice('mission-'.length);
    if (!sameInput(prior, payload)) {
      const reason: Reason = {
        code: 'IDEMPOTENCY_KEY_REUSED',
        message: `The idempotency key was already used at revision ${prior.revision} for a different payload.`,
      };
      const type =
        kind === 'dispatch'
          ? 'mission.dispatch_rejected'
          : kind === 'cancel'
            ? 'mission.cancel_rejected'
            : 'mission.callback_rejected';
      // Recorded under no key: the key belongs to the original.
      const appended = await this.deps.store.append(stream, [
        {
          type,
          data: rejectionData(payload, [reason], receivedAt, principal),
          metadata: metadataFor(payload, principal),
        },
      ]);
      throw rejection([reason], {
        revision: appended.revisions[0]!,
        position: appended.positions[0]!,
      });
    }
    const original = { revision: prior.revision, position: prior.position };
    const reasons = (prior.data as { reasons?: Reason[] }).reasons;
    if (reasons !== undefined && reasons.length > 0) throw rejection(reasons, original, true);
    const vpSessionId = (prior.data as { vp_session_id?: string }).vp_session_id ?? '';
    if (kind === 'dispatch') {
      // A retry also repairs a registry write that a crash may have cut off after the mission append.
      const dispatched = prior.data as { vp_session_id: string; workspace_key: string };
      await registerVpSession(this.deps.store, payload, dispatched);
    }
    return { ...original, mission_id: missionId, vp_session_id: vpSessionId, duplicate: true };
  }

  private async append(
    stream: string,
    current: StoredEvent[],
    events: { type: string; data: unknown }[],
    key: string | undefined,
    payload: unknown,
    principal: Principal,
  ): Promise<CommandResult> {
    const metadata = {
      ...metadataFor(payload, principal),
      ...(key === undefined ? {} : { idempotency_key: key }),
    };
    const newEvents: NewEvent[] = events.map((e) => ({
      type: e.type,
      data: e.data as NewEvent['data'],
      metadata,
    }));
    const expected = current.at(-1)?.revision ?? 'no_stream';
    const result = await this.deps.store.append(stream, newEvents, { expectedRevision: expected });
    return {
      mission_id: '',
      revision: result.revisions.at(-1)!,
      position: result.positions.at(-1)!,
      duplicate: result.duplicate,
    };
  }

  private async recordUnattributed(
    type: string,
    payload: unknown,
    reasons: Reason[],
    receivedAt: string,
    principal: Principal,
    missionId?: string,
  ): Promise<void> {
    const data = {
      ...rejectionData(payload, reasons, receivedAt, principal),
      mission_id: missionId ?? null,
    };
    await this.deps.store.append(REJECTIONS_STREAM, [
      { type, data, metadata: metadataFor(payload, principal) },
    ]);
  }

  /** Runs a load-decide-append attempt, again when another writer moved the stream in between. */
  private async withRetries<T>(attempt: () => Promise<T>): Promise<T> {
    for (let i = 1; ; i += 1) {
      try {
        return await attempt();
      } catch (error) {
        const raced =
          isLedgerError(error, 'EXPECTED_REVISION_CONFLICT') ||
          (isLedgerError(error, 'IDEMPOTENCY_KEY_REUSED') && error.details.rejection !== true);
        if (!raced || i >= MAX_ATTEMPTS) throw error;
      }
    }
  }
}

/** A rejection as an error for the caller; the rejection itself is already in the log. */
function rejection(
  reasons: Reason[],
  recorded?: { revision: number; position: number },
  duplicate = false,
): LedgerError {
  const first = reasons[0] ?? { code: 'SCHEMA_INVALID', message: 'Rejected.' };
  return new LedgerError(first.code, first.message, {
    reasons,
    rejection: true,
    ...(recorded === undefined ? {} : { recorded }),
    ...(duplicate ? { duplicate: true } : {}),
  });
}

function rejectionData(
  payload: unknown,
  reasons: Reason[],
  receivedAt: string,
  principal: Principal,
) {
  return { input: payload ?? null, reasons, received_at: receivedAt, principal };
}

function field(payload: unknown, name: string): string | undefined {
  if (typeof payload !== 'object' || payload === null || Array.isArray(payload)) return undefined;
  const value = (payload as Record<string, unknown>)[name];
  return typeof value === 'string' && value.length > 0 && value.length <= 256 ? value : undefined;
}

function metadataFor(payload: unknown, principal: Principal) {
  const trace = field(payload, 'trace_id');
  return {
    actor: `${principal.role}:${principal.id}`,
    ...(trace === undefined ? {} : { trace_id: trace }),
  };
}
