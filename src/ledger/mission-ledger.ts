import {
  missionAggregate,
  type MissionCommand,
  type MissionEvent,
  type MissionState,
  type PolicyInForce,
} from '../domain/mission/index.ts';
import { missionId as missionIdSchema, type Principal } from '../../schemas/index.ts';
import { missionStream } from '../../schemas/streams.ts';
import type { EventStore, StoredEvent } from '../store/port.ts';
import { CommandHandler, type CommandOutcome } from './command-handler.ts';
import {
  DEFAULT_REJECTION_LIMITS,
  RejectionBudget,
  type RejectionLimits,
} from './rejection-budget.ts';

export interface MissionLedgerOptions {
  store: EventStore;
  /** The receive time stamped on every command: the only clock the decide path sees. */
  now: () => Date;
  /** Allocates VP session ids. */
  newId: () => string;
  /** Mission folds kept in memory. Default 10,000. */
  cacheSize?: number;
  /** How much one principal may make the ledger record as rejections. */
  rejectionLimits?: RejectionLimits;
  /** The policy in force and the signing keys known, read when each input is received. */
  policy: () => PolicyInForce;
}

/**
 * Missions on the one command path: each input becomes a typed command stamped with its receive
 * time, sender and key, and goes through the {@link CommandHandler}; reads of one mission fold
 * its stream. Outcomes are values: the HTTP layer answers them.
 */
export class MissionLedger {
  private readonly handler: CommandHandler<MissionCommand, MissionState | undefined, MissionEvent>;

  constructor(private readonly options: MissionLedgerOptions) {
    const rejections = new RejectionBudget(
      options.rejectionLimits ?? DEFAULT_REJECTION_LIMITS,
      () => options.now().getTime(),
    );
    this.handler = new CommandHandler(missionAggregate, {
      store: options.store,
      rejections,
      ...(options.cacheSize === undefined ? {} : { cacheSize: options.cacheSize }),
    });
  }

  private metadata(principal: Principal, idempotencyKey?: string) {
    return {
      received_at: this.options.now().toISOString(),
      principal,
      idempotency_key: idempotencyKey,
      policy: this.options.policy(),
    };
  }

  /** A dispatch (Mission Envelope v1) as received, with its `Ledger-Signature` header if any. */
  dispatch(payload: unknown, principal: Principal, signature?: string): Promise<CommandOutcome> {
    return this.handler.handle({
      type: 'dispatchMission',
      data: { payload, allocated_session_id: this.options.newId(), signature },
      metadata: this.metadata(principal),
    });
  }

  /** A lifecycle callback for the mission of the request path, as received, with its signature. */
  callback(
    missionId: string,
    payload: unknown,
    principal: Principal,
    signature?: string,
  ): Promise<CommandOutcome> {
    return this.handler.handle({
      type: 'postCallback',
      data: { mission_id: missionId, payload, signature },
      metadata: this.metadata(principal),
    });
  }

  /** A cancel request, its body and `Idempotency-Key` header as received. */
  cancel(
    missionId: string,
    body: unknown,
    idempotencyKey: string | undefined,
    principal: Principal,
  ): Promise<CommandOutcome> {
    return this.handler.handle({
      type: 'cancelMission',
      data: { mission_id: missionId, body },
      metadata: this.metadata(principal, idempotencyKey),
    });
  }

  /** The mission folded from its stream (reading what this process has not seen), with its revision. */
  async mission(missionId: string): Promise<{ state: MissionState; revision: number } | undefined> {
    if (!missionIdSchema.safeParse(missionId).success) return undefined;
    const fold = await this.handler.current(missionStream(missionId));
    return fold.state === undefined ? undefined : { state: fold.state, revision: fold.revision };
  }

  /** A page of the mission's stream, by revision; undefined when the stream does not exist. */
  async timeline(
    missionId: string,
    fromRevision: number,
    limit: number,
  ): Promise<StoredEvent[] | undefined> {
    if (!missionIdSchema.safeParse(missionId).success) return undefined;
    const stream = missionStream(missionId);
    const { store } = this.options;
    const events = await store.readStream(stream, { fromRevision, limit });
    if (events.length > 0 || fromRevision > 0) return events;
    return (await store.readStream(stream, { limit: 1 })).length === 0 ? undefined : [];
  }
}
