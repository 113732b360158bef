import {
  keyRegistrationBodySchema,
  keyRevocationBodySchema,
  type Principal,
} from '../../schemas/index.ts';
import { KEYS_STREAM } from '../../schemas/streams.ts';
import {
  keyRegistryAggregate,
  sameRegistration,
  type KeyCommand,
  type KeyEvent,
  type KeyRegistryState,
  type RegisteredKey,
} from '../domain/signing-keys/index.ts';
import type { EventStore } from '../store/port.ts';
import { CommandHandler, type CommandOutcome } from './command-handler.ts';
import type { KeyRingCache } from './key-ring-cache.ts';
import { KeyedMutex } from './keyed-mutex.ts';
import {
  DEFAULT_REJECTION_LIMITS,
  RejectionBudget,
  type RejectionLimits,
} from './rejection-budget.ts';

export interface KeyRegistryOptions {
  store: EventStore;
  /** The receive time stamped on every command. */
  now: () => Date;
  /** The serving process's key ring: advanced after each change made here. */
  cache?: KeyRingCache;
  rejectionLimits?: RejectionLimits;
}

/** A page of keys, by key id. */
export interface KeyPage {
  keys: RegisteredKey[];
  /** The last key id of the page when more follow; null on the last page. */
  next_cursor: string | null;
}

/**
 * The signing key registry on the one command path (stream `ledger-keys`): registrations and
 * revocations are commands, recorded with their rejections; reads fold the stream. A retry of a
 * registration or revocation already in force is answered as a duplicate of the original, with
 * or without an `Idempotency-Key`.
 */
export class KeyRegistry {
  private readonly handler: CommandHandler<KeyCommand, KeyRegistryState, KeyEvent>;
  /** Serialises changes in this process, so the duplicate check and the decision see one state. */
  private readonly changes = new KeyedMutex();

  constructor(private readonly options: KeyRegistryOptions) {
    const rejections = new RejectionBudget(
      options.rejectionLimits ?? DEFAULT_REJECTION_LIMITS,
      () => options.now().getTime(),
    );
    this.handler = new CommandHandler(keyRegistryAggregate, { store: options.store, rejections });
  }

  private metadata(principal: Principal, idempotencyKey: string | undefined) {
    return {
      received_at: this.options.now().toISOString(),
      principal,
      idempotency_key: idempotencyKey,
    };
  }

  /** A registration (`POST /v1/keys`), its body and `Idempotency-Key` as received. */
  register(
    body: unknown,
    idempotencyKey: string | undefined,
    principal: Principal,
  ): Promise<CommandOutcome> {
    return this.change(async (state) => {
      const parsed = keyRegistrationBodySchema.safeParse(body);
      const existing = parsed.success ? state.keys.get(parsed.data.key_id) : undefined;
      if (parsed.success && existing !== undefined && sameRegistration(existing, parsed.data))
        return this.duplicate(existing.key_id, existing.registered_revision);
      return this.handler.handle({
        type: 'registerKey',
        data: { body },
        metadata: this.metadata(principal, idempotencyKey),
      });
    });
  }

  /** A revocation (`POST /v1/keys/{key_id}/revoke`); a key already revoked stays as it was. */
  revoke(
    keyId: string,
    body: unknown,
    idempotencyKey: string | undefined,
    principal: Principal,
  ): Promise<CommandOutcome> {
    return this.change(async (state) => {
      const existing = state.keys.get(keyId);
      if (
        principal.role === 'operator' &&
        existing?.revoked_revision != null &&
        keyRevocationBodySchema.safeParse(body).success
      )
        return this.duplicate(keyId, existing.revoked_revision);
      return this.handler.handle({
        type: 'revokeKey',
        data: { key_id: keyId, body },
        metadata: this.metadata(principal, idempotencyKey),
      });
    });
  }

  /** Keys in key id order, after the key id `cursor`. */
  async list(cursor: string | undefined, limit: number): Promise<KeyPage> {
    const { state } = await this.handler.current(KEYS_STREAM);
    const sorted = [...state.keys.values()]
      .filter((key) => cursor === undefined || key.key_id > cursor)
      .sort((a, b) => (a.key_id < b.key_id ? -1 : a.key_id > b.key_id ? 1 : 0));
    const keys = sorted.slice(0, limit);
    return {
      keys,
      next_cursor: sorted.length > limit ? (keys.at(-1)?.key_id ?? null) : null,
    };
  }

  /** One key, as the registry holds it now; undefined when none has that id. */
  async get(keyId: string): Promise<RegisteredKey | undefined> {
    const { state } = await this.handler.current(KEYS_STREAM);
    return state.keys.get(keyId);
  }

  /** Runs a change on the registry's current fold, then brings the cache up to it. */
  private async change(
    run: (state: KeyRegistryState) => Promise<CommandOutcome>,
  ): Promise<CommandOutcome> {
    const outcome = await this.changes.run(KEYS_STREAM, async () => {
      const { state } = await this.handler.current(KEYS_STREAM);
      return run(state);
    });
    // The change is recorded whatever the cache does: a failed read leaves the ring to catch up
    // from the log it follows, and the answer stays the recorded outcome.
    if (outcome.outcome === 'accepted') await this.options.cache?.refresh().catch(() => undefined);
    return outcome;
  }

  /** The answer to a retry: the original event's place, nothing appended. */
  private async duplicate(keyId: string, revision: number): Promise<CommandOutcome> {
    const [event] = await this.options.store.readStream(KEYS_STREAM, {
      fromRevision: revision,
      limit: 1,
    });
    if (event === undefined) throw new Error(`ledger-keys has no revision ${revision}`);
    return {
      outcome: 'duplicate',
      revision,
      position: event.position,
      answer: { key_id: keyId },
    };
  }
}
