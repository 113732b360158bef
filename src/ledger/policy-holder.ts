import type { Environment, PolicyActivatedData, Principal } from '../../schemas/index.ts';
import { POLICY_STREAM } from '../../schemas/streams.ts';
import {
  policyActivationRequestSchema,
  type ProfileSignature,
} from '../../schemas/policy-events.ts';
import { LedgerError, isLedgerError } from '../errors.ts';
import { activatePolicy, type ActivePolicy } from '../policy/active-policy.ts';
import { parseProfile, type PolicyProfile } from '../policy/profile.ts';
import { shippedProfiles } from '../policy/shipped-profiles.ts';
import type { EventStore, StoredEvent } from '../store/port.ts';

export interface PolicyHolderOptions {
  store: EventStore;
  /** The profile this process starts with, and the trusted key that signed it (null: shipped). */
  profile: PolicyProfile;
  signedBy: string | null;
  environment: Environment;
  /** `warn`: the rollback toggle (`LEDGER_POLICY_MODE=warn`). */
  override: 'warn' | null;
  now: () => Date;
  /** How often the activations of other processes (an operator's switch) are read. Default 1 s. */
  pollMs?: number;
  /**
   * Decides whether a profile document an operator activates may be trusted: returns the id of
   * the trusted key that signed it (null: unsigned, acceptable here), or throws PROFILE_UNTRUSTED.
   */
  trust: (profile: PolicyProfile, signature: ProfileSignature | undefined) => string | null;
}

/** An activation as this process adopts it: the policy and where it came from. */
export interface Activation {
  active: ActivePolicy;
  source: 'start' | 'operator';
  signed_by: string | null;
  activated_at: string;
  principal: Principal | null;
  /** Its position in the log. */
  position: number;
}

/**
 * The policy in force in a serving process. On start it records a `policy.activated` event (the
 * profile whole, its digest, the environment and override) in `ledger-policy`; an operator's
 * switch ({@link activate}) records another, and every serving process adopts the latest
 * operator switch within `pollMs` (it reads the stream, not the whole log). A process that
 * restarts starts again with its configured profile, and records that.
 *
 * Decisions read {@link current} when each input is received and store the profile's id and
 * digest with the input, so the log says exactly which policy decided what.
 */
export class PolicyHolder {
  private activation: Activation | undefined;
  private nextRevision = 0;
  private timer: NodeJS.Timeout | undefined;
  private polling: Promise<void> | undefined;

  constructor(private readonly options: PolicyHolderOptions) {}

  /** Records the start activation and begins following operator switches. */
  async start(): Promise<void> {
    const { profile, signedBy, environment, override } = this.options;
    // Catch up first, so an operator's switch recorded earlier is not mistaken for news later.
    await this.poll();
    this.activation = await this.record(
      activatePolicy(profile, environment, override),
      'start',
      signedBy,
      null,
    );
    this.timer = setInterval(() => {
      this.polling ??= this.poll()
        .catch(() => undefined)
        .finally(() => (this.polling = undefined));
    }, this.options.pollMs ?? 1_000);
    this.timer.unref();
  }

  async stop(): Promise<void> {
    clearInterval(this.timer);
    await this.polling;
  }

  /** The activation in force. */
  get current(): Activation {
    if (this.activation === undefined) throw new Error('The policy holder has not started.');
    return this.activation;
  }

  /**
   * An operator's request to switch (`POST /v1/policy/activations`): a shipped profile by id, or a
   * profile document that {@link PolicyHolderOptions.trust} accepts. Throws SCHEMA_INVALID,
   * NOT_FOUND or PROFILE_UNTRUSTED; nothing is recorded then.
   */
  async activateRequest(body: unknown, principal: Principal): Promise<Activation> {
    const parsed = policyActivationRequestSchema.safeParse(body);
    if (!parsed.success) {
      const issues = parsed.error.issues.map((issue) => ({
        path: issue.path.join('.') || '(body)',
        message: issue.message,
      }));
      throw new LedgerError(
        'SCHEMA_INVALID',
        `An activation is {"profile_id"} or {"profile", "signature"?}, with "override"?: ${issues.map((i) => `${i.path}: ${i.message}`).join('; ')}`,
        { issues },
      );
    }
    const request = parsed.data;
    const override = request.override ?? null;
    if (request.profile_id !== undefined) {
      const shipped = (shippedProfiles as Record<string, PolicyProfile>)[request.profile_id];
      if (shipped === undefined) {
        throw new LedgerError(
          'NOT_FOUND',
          `No shipped profile ${JSON.stringify(request.profile_id)}.`,
          {
            known: Object.keys(shippedProfiles),
          },
        );
      }
      return this.activate(shipped, override, null, principal);
    }
    let profile: PolicyProfile;
    try {
      profile = parseProfile(request.profile);
    } catch (error) {
      // The profile checker speaks of configuration; over the API it is the request's body.
      if (!isLedgerError(error, 'CONFIGURATION_INVALID')) throw error;
      throw new LedgerError('SCHEMA_INVALID', error.message, {
        issues: [{ path: 'profile', message: error.message }],
      });
    }
    const signedBy = this.options.trust(profile, request.signature);
    return this.activate(profile, override, signedBy, principal);
  }

  /**
   * An operator's switch: records the activation and puts it in force here at once (and in every
   * other serving process within its poll interval). Same environment as this process.
   */
  async activate(
    profile: PolicyProfile,
    override: 'warn' | null,
    signedBy: string | null,
    principal: Principal,
  ): Promise<Activation> {
    const active = activatePolicy(profile, this.options.environment, override);
    this.activation = await this.record(active, 'operator', signedBy, principal);
    return this.activation;
  }

  private async record(
    active: ActivePolicy,
    source: 'start' | 'operator',
    signedBy: string | null,
    principal: Principal | null,
  ): Promise<Activation> {
    const activatedAt = this.options.now().toISOString();
    const data: PolicyActivatedData = {
      profile: active.profile,
      digest: active.digest,
      environment: active.environment,
      override: active.override,
      source,
      signed_by: signedBy,
      principal,
      activated_at: activatedAt,
    };
    const result = await this.options.store.append(POLICY_STREAM, [
      { type: 'policy.activated', data },
    ]);
    this.nextRevision = Math.max(this.nextRevision, result.nextExpectedRevision + 1);
    return {
      active,
      source,
      signed_by: signedBy,
      activated_at: activatedAt,
      principal,
      position: result.positions.at(-1)!,
    };
  }

  /** Adopts the newest operator switch recorded since the last read, if any. */
  private async poll(): Promise<void> {
    for (;;) {
      const events = await this.options.store.readStream(POLICY_STREAM, {
        fromRevision: this.nextRevision,
        limit: 100,
      });
      if (events.length === 0) return;
      this.nextRevision = events.at(-1)!.revision + 1;
      const switched = events.filter(isOperatorSwitch).at(-1);
      if (switched !== undefined && this.activation !== undefined) this.adopt(switched);
      if (events.length < 100) return;
    }
  }

  private adopt(event: StoredEvent): void {
    const data = event.data as PolicyActivatedData;
    if (this.activation !== undefined && this.activation.position >= event.position) return;
    this.activation = {
      active: activatePolicy(parseProfile(data.profile), this.options.environment, data.override),
      source: 'operator',
      signed_by: data.signed_by,
      activated_at: data.activated_at,
      principal: data.principal,
      position: event.position,
    };
  }
}

const isOperatorSwitch = (event: StoredEvent): boolean =>
  event.type === 'policy.activated' &&
  (event.data as Partial<PolicyActivatedData> | null)?.source === 'operator';
