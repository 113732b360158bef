import { jsonDigest } from '../audit/canonical-json.ts';
import { LedgerError, isLedgerError, type ErrorCode } from '../errors.ts';
import {
  decideCallback,
  decideCancel,
  decideDispatch,
  missionStream,
  rejectedInputData,
  scopedKey,
  storableInput,
  storedScopedKey,
  textIssues,
  type Decision,
  type InputKind,
  type MissionState,
} from '../domain/mission/index.ts';
import { idempotencyKey } from '../../schemas/primitives.ts';
import type { Principal } from '../../schemas/mission-events.ts';
import { cancelRequestBodySchema } from '../../schemas/mission-events.ts';
import type { EventStore, NewEvent, StoredEvent } from '../store/port.ts';
import {
  MissionCache,
  emptyEntry,
  foldEntry,
  type FoldableEvent,
  type MissionEntry,
  type PriorOutcome,
} from './mission-cache.ts';
import { KeyedMutex } from './keyed-mutex.ts';
import {
  DEFAULT_REJECTION_LIMITS,
  RejectionBudget,
  type RejectionLimits,
} from './rejection-budget.ts';

export { missionStream };

/** Where inputs that name no existing mission are recorded, so no rejection goes unlogged. */
export const REJECTIONS_STREAM = 'ledger-rejections';

/**
 * How often a command reads what it missed and decides again after another process moved the
 * stream. Commands in one process are serialised per mission, so only cross-process races retry;
 * a jittered, growing pause keeps two busy processes from colliding in lockstep.
 */
const MAX_ATTEMPTS = 25;
const backoff = (attempt: number) =>
  new Promise<void>((resolve) => setTimeout(resolve, Math.random() * Math.min(50, 2 ** attempt)));

const MISSION_ID = /^[A-Za-z0-9][A-Za-z0-9._:-]{0,199}$/;

/** A reason a command was rejected: a domain rule's, or the ledger's own (a reused key). */
interface Reason {
  code: ErrorCode;
  message: string;
}

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
  /** Mission folds kept in memory. Default 10,000. */
  cacheSize?: number;
  /** How much one principal may make the ledger record as rejections. */
  rejectionLimits?: RejectionLimits;
}

type Kind = InputKind;

const REJECTED_TYPE: Record<Kind, string> = {
  dispatch: 'mission.dispatch_rejected',
  callback: 'mission.callback_rejected',
  cancel: 'mission.cancel_rejected',
};

/**
 * The command path: take the mission's fold (cached, or read from its stream), decide (pure),
 * append with the fold's revision as the expected revision; when another writer got there
 * first, read what was missed and decide again. The one place where domain, store and clock meet.
 *
 * Idempotency is answered from the log: a command whose idempotency key the stream already holds
 * returns the original outcome (nothing appended) when the payload is the same, and is rejected
 * with IDEMPOTENCY_KEY_REUSED (recorded, under no key) when it differs.
 */
export class MissionLedger {
  private readonly cache: MissionCache;
  private readonly missions = new KeyedMutex();
  private readonly rejections: RejectionBudget;

  constructor(private readonly deps: LedgerDeps) {
    this.cache = new MissionCache(deps.cacheSize ?? 10_000);
    this.rejections = new RejectionBudget(deps.rejectionLimits ?? DEFAULT_REJECTION_LIMITS, () =>
      deps.now().getTime(),
    );
  }

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
          'A dispatch needs a mission_id (1-200 of A-Z a-z 0-9 . _ : -) and an idempotency_key (1-256 characters).',
      };
      throw rejection(
        [reason],
        await this.recordUnattributed('dispatch', payload, [reason], receivedAt, principal),
      );
    }
    // One append: the VP session registry is a projection of `mission.dispatched`, so a dispatch
    // is never half applied.
    const result = await this.command(
      missionStream(missionId),
      'dispatch',
      key,
      payload,
      principal,
      receivedAt,
      (state) =>
        decideDispatch(state, {
          payload,
          received_at: receivedAt,
          principal,
          allocatedSessionId: this.deps.newId(),
        }),
    );
    return { ...result.command, vp_session_id: result.vpSessionId ?? '' };
  }

  async callback(
    missionId: string,
    payload: unknown,
    principal: Principal,
  ): Promise<CommandResult> {
    const receivedAt = this.deps.now().toISOString();
    const key = field(payload, 'idempotency_key');
    const stream = missionStream(missionId);
    await this.admit('callback', missionId, payload, receivedAt, principal);
    const result = await this.command(
      stream,
      'callback',
      key,
      payload,
      principal,
      receivedAt,
      (state) => decideCallback(state, { missionId, payload, received_at: receivedAt, principal }),
    );
    return result.command;
  }

  /**
   * A cancel request. The body is checked here rather than at the edge, so that an invalid one is
   * recorded like any other rejected input.
   */
  async cancel(
    missionId: string,
    body: unknown,
    idempotencyKeyHeader: string | undefined,
    principal: Principal,
  ): Promise<CommandResult> {
    const receivedAt = this.deps.now().toISOString();
    const stream = missionStream(missionId);
    const parsed = cancelRequestBodySchema.safeParse(body);
    const text = parsed.success ? parsed.data.reason : reasonText(body);
    const payload = { reason: text };
    await this.admit('cancel', missionId, body, receivedAt, principal);
    const requestedBy = `${principal.role}:${principal.id}`;
    // A key that breaks the contract binds nothing: the cancel is recorded, under no key.
    const keyProblem =
      idempotencyKeyHeader === undefined ? undefined : keyIssue(idempotencyKeyHeader);
    const key = keyProblem === undefined ? idempotencyKeyHeader : undefined;
    const decide = (state: MissionState | undefined): Decision => {
      if (parsed.success && keyProblem === undefined) {
        return decideCancel(state, {
          reason: text,
          requested_by: requestedBy,
          received_at: receivedAt,
        });
      }
      const issues = [
        ...(parsed.success
          ? []
          : parsed.error.issues.map((i) => `${i.path.join('.') || '(body)'}: ${i.message}`)),
        ...textIssues(body).map((i) => `${i.path}: ${i.message}`),
        ...(keyProblem === undefined ? [] : [`Idempotency-Key: ${keyProblem}`]),
      ];
      const reasons = [
        {
          code: 'SCHEMA_INVALID' as const,
          message: `A cancel is {"reason": "..."} (1 to 2000 characters, no other field) with an optional Idempotency-Key of 1 to 256 characters: ${issues.join('; ')}`,
        },
      ];
      const data = {
        reason: storableInput(text) as string,
        requested_by: requestedBy,
        reasons,
        received_at: receivedAt,
      };
      return { outcome: 'rejected', events: [{ type: 'mission.cancel_rejected', data }], reasons };
    };
    const result = await this.command(
      stream,
      'cancel',
      key,
      payload,
      principal,
      receivedAt,
      decide,
    );
    return result.command;
  }

  /** The mission folded from its stream (reading what this process has not seen), with its revision. */
  async mission(missionId: string): Promise<{ state: MissionState; revision: number } | undefined> {
    if (!MISSION_ID.test(missionId)) return undefined;
    const entry = await this.load(missionStream(missionId), true);
    return entry.state === undefined ? undefined : { state: entry.state, revision: entry.revision };
  }

  /** A page of the mission's stream, by revision; undefined when the stream does not exist. */
  async timeline(
    missionId: string,
    fromRevision: number,
    limit: number,
  ): Promise<StoredEvent[] | undefined> {
    if (!MISSION_ID.test(missionId)) return undefined;
    const stream = missionStream(missionId);
    const events = await this.deps.store.readStream(stream, { fromRevision, limit });
    if (events.length > 0 || fromRevision > 0) return events;
    return (await this.deps.store.readStream(stream, { limit: 1 })).length === 0 ? undefined : [];
  }

  /**
   * One command: decide on the fold, append at its revision, and on a race (the stream moved, or
   * another process recorded the same key first) read what was missed and go again.
   */
  private async command(
    stream: string,
    kind: Kind,
    key: string | undefined,
    payload: unknown,
    principal: Principal,
    receivedAt: string,
    decide: (state: MissionState | undefined) => Decision,
  ): Promise<{ command: CommandResult; vpSessionId?: string; workspaceKey?: string }> {
    // The key binds only this sender's inputs of this kind (see scopedKey).
    const scoped = key === undefined ? undefined : scopedKey(kind, principal, key);
    // Serialised per mission in this process: only races with other processes retry.
    return this.missions.run(stream, async () => {
      const missionId = stream.slice('mission-'.length);
      for (let attempt = 1; ; attempt += 1) {
        const entry = await this.load(stream, attempt > 1);
        const prior = scoped === undefined ? undefined : entry.priors.get(scoped);
        try {
          if (prior !== undefined)
            return await this.replay(stream, kind, prior, payload, principal, receivedAt);
          const decision = decide(entry.state);
          if (decision.outcome === 'rejected') this.chargeRejection(principal, decision.events);
          const appended = await this.append(
            stream,
            entry,
            decision.events,
            scoped,
            payload,
            principal,
          );
          if (decision.outcome === 'rejected')
            throw rejection(decision.reasons, appended, appended.duplicate);
          const data = decision.events[0]?.data as
            { vp_session_id?: string; workspace_key?: string } | undefined;
          return {
            command: { mission_id: missionId, ...appended },
            vpSessionId: data?.vp_session_id,
            workspaceKey: data?.workspace_key,
          };
        } catch (error) {
          const raced =
            isLedgerError(error, 'EXPECTED_REVISION_CONFLICT') ||
            (isLedgerError(error, 'IDEMPOTENCY_KEY_REUSED') && error.details.rejection !== true);
          if (!raced || attempt >= MAX_ATTEMPTS) throw error;
          if (attempt > 1) await backoff(attempt);
        }
      }
    });
  }

  /**
   * A command whose key the stream already holds: the same payload gets the original outcome (an
   * accepted result, or the original rejection) and appends nothing; another payload under the
   * key is itself rejected and recorded, under no key, since the key belongs to the original.
   */
  private async replay(
    stream: string,
    kind: Kind,
    prior: PriorOutcome,
    payload: unknown,
    principal: Principal,
    receivedAt: string,
  ): Promise<{ command: CommandResult; vpSessionId?: string; workspaceKey?: string }> {
    const original = { revision: prior.revision, position: prior.position };
    // Compared as recorded: what the log cannot hold was replaced in the recorded copy too.
    const digest = jsonDigest(storableInput(payload ?? null));
    if (prior.inputDigest === undefined || prior.inputDigest !== digest) {
      const reason: Reason = {
        code: 'IDEMPOTENCY_KEY_REUSED',
        message: `The idempotency key was already used at revision ${prior.revision} for a different payload.`,
      };
      const entry = await this.load(stream, false);
      // Each rejection type has its own recorded shape; a cancel's is the cancel request's.
      const data =
        kind === 'cancel'
          ? {
              reason: reasonText(payload),
              requested_by: `${principal.role}:${principal.id}`,
              reasons: [reason],
              received_at: receivedAt,
            }
          : rejectedInputData({ payload, received_at: receivedAt, principal }, [reason]);
      const event = { type: REJECTED_TYPE[kind], data };
      this.chargeRejection(principal, [event]);
      throw rejection(
        [reason],
        await this.append(stream, entry, [event], undefined, payload, principal),
      );
    }
    if (prior.reasons !== undefined && prior.reasons.length > 0) {
      throw rejection(prior.reasons as Reason[], original, true);
    }
    return {
      command: { mission_id: stream.slice('mission-'.length), ...original, duplicate: true },
      vpSessionId: prior.vpSessionId,
      workspaceKey: prior.workspaceKey,
    };
  }

  /** Appends at the entry's revision and, on success, folds the new events into the cache. */
  private async append(
    stream: string,
    entry: MissionEntry,
    events: readonly { type: string; data: unknown }[],
    key: string | undefined,
    payload: unknown,
    principal: Principal,
  ): Promise<{ revision: number; position: number; duplicate: boolean }> {
    const metadata = {
      ...metadataFor(payload, principal),
      ...(key === undefined ? {} : { idempotency_key: key }),
    };
    const newEvents: NewEvent[] = events.map((e) => ({
      type: e.type,
      data: e.data as NewEvent['data'],
      metadata,
    }));
    try {
      const result = await this.deps.store.append(stream, newEvents, {
        expectedRevision: entry.revision < 0 ? 'no_stream' : entry.revision,
      });
      const folded: FoldableEvent[] = events.map((e, i) => ({
        type: e.type,
        data: e.data,
        revision: result.revisions[i]!,
        position: result.positions[i]!,
        idempotencyKey: key,
      }));
      this.cache.advance(stream, entry, folded);
      // `duplicate`: a retry in another process, received in the same millisecond, recorded the
      // very same event first; the store answered with the original, so this is a replay too.
      return {
        revision: result.revisions.at(-1)!,
        position: result.positions.at(-1)!,
        duplicate: result.duplicate,
      };
    } catch (error) {
      this.cache.delete(stream);
      throw error;
    }
  }

  /** The stream's fold: the cached one, or (when `fresh`, or not cached) caught up from the store. */
  private async load(stream: string, fresh: boolean): Promise<MissionEntry> {
    const cached = this.cache.get(stream);
    if (cached !== undefined && !fresh) return cached;
    const base = cached ?? emptyEntry();
    const events = await this.deps.store.readStream(stream, { fromRevision: base.revision + 1 });
    const entry = foldEntry(
      base,
      events.map((e) => ({ ...e, idempotencyKey: storedScopedKey(e) })),
    );
    // Streams that do not exist are not cached: a flood of bad ids must not evict real missions.
    if (entry.revision >= 0) this.cache.set(stream, entry);
    return entry;
  }

  /**
   * Admits an input for an existing mission from a sender that may act on it. Anything else is
   * recorded in REJECTIONS_STREAM and answered as MISSION_NOT_FOUND, alike whether the mission is
   * missing or belongs to another instance: a stranger learns nothing about a mission, not even
   * that it exists, binds no idempotency key and adds nothing to the mission's stream. (An input
   * for a missing mission is never recorded in a new mission stream either: that would create
   * the stream and make the real dispatch conflict.) The recorded reason says which it was.
   */
  private async admit(
    kind: Kind,
    missionId: string,
    payload: unknown,
    receivedAt: string,
    principal: Principal,
  ): Promise<void> {
    const state = MISSION_ID.test(missionId)
      ? (await this.load(missionStream(missionId), false)).state
      : undefined;
    const foreign =
      state !== undefined &&
      principal.role === 'factory' &&
      principal.id !== state.target_instance_id;
    if (state !== undefined && !foreign) return;
    const notFound: Reason = { code: 'MISSION_NOT_FOUND', message: `No mission ${missionId}.` };
    const recordedReason: Reason = foreign
      ? {
          code: 'FORBIDDEN_INSTANCE',
          message: `Mission ${JSON.stringify(missionId)} is dispatched to instance ${JSON.stringify(state.target_instance_id)}, not ${JSON.stringify(principal.id)}.`,
        }
      : notFound;
    const recorded = await this.recordUnattributed(
      kind,
      payload,
      [recordedReason],
      receivedAt,
      principal,
      missionId,
    );
    throw rejection([notFound], recorded);
  }

  private async recordUnattributed(
    kind: Kind,
    payload: unknown,
    reasons: Reason[],
    receivedAt: string,
    principal: Principal,
    missionId?: string,
  ): Promise<{ revision: number; position: number }> {
    const data = {
      ...rejectedInputData({ payload, received_at: receivedAt, principal }, reasons),
      mission_id: missionId === undefined ? null : (storableInput(missionId) as string),
    };
    this.chargeRejection(principal, [{ data }]);
    const result = await this.deps.store.append(REJECTIONS_STREAM, [
      { type: REJECTED_TYPE[kind], data, metadata: metadataFor(payload, principal) },
    ]);
    return { revision: result.revisions[0]!, position: result.positions[0]! };
  }

  /**
   * Takes a rejection about to be recorded from its sender's budget, or refuses it with
   * RATE_LIMITED (recorded nowhere: recording it would be what the limit prevents).
   */
  private chargeRejection(principal: Principal, events: readonly { data: unknown }[]): void {
    const bytes = events.reduce((sum, e) => sum + JSON.stringify(e.data).length, 0);
    const retryAfter = this.rejections.take(`${principal.role}:${principal.id}`, bytes);
    if (retryAfter === undefined) return;
    throw new LedgerError(
      'RATE_LIMITED',
      `Too many rejected inputs from this sender: retry in ${retryAfter} s.`,
      { retry_after_seconds: retryAfter },
    );
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
    ...(recorded === undefined
      ? {}
      : { recorded: { revision: recorded.revision, position: recorded.position } }),
    ...(duplicate ? { duplicate: true } : {}),
  });
}

/** A cancel's reason as received, whatever its length (it is stored with the rejection). */
function reasonText(payload: unknown): string {
  const value =
    typeof payload === 'object' && payload !== null
      ? (payload as { reason?: unknown }).reason
      : undefined;
  return typeof value === 'string' ? value : '';
}

function field(payload: unknown, name: string): string | undefined {
  if (typeof payload !== 'object' || payload === null || Array.isArray(payload)) return undefined;
  const value = (payload as Record<string, unknown>)[name];
  return typeof value === 'string' &&
    value.length > 0 &&
    value.length <= 256 &&
    value.isWellFormed()
    ? value
    : undefined;
}

/** Why a cancel's Idempotency-Key cannot be a key, or undefined when it can. */
function keyIssue(key: string): string | undefined {
  const parsed = idempotencyKey.safeParse(key);
  if (!parsed.success) return parsed.error.issues.map((i) => i.message).join('; ');
  return textIssues(key)[0]?.message;
}

function metadataFor(payload: unknown, principal: Principal) {
  const trace = field(payload, 'trace_id');
  return {
    actor: `${principal.role}:${principal.id}`,
    ...(trace === undefined ? {} : { trace_id: trace }),
  };
}
