import { jsonDigest } from '../audit/canonical-json.ts';
import type { Aggregate, FoldedEvent, Refusal } from '../domain/aggregate.ts';
import type { CommandMetadata, Reason, RecordedEvent } from '../domain/decider.ts';
import { actorOf, scopedKey } from '../domain/idempotency-key.ts';
import { LedgerError, isLedgerError } from '../errors.ts';
import { REJECTIONS_STREAM } from '../../schemas/streams.ts';
import type { EventStore, NewEvent, StoredEvent } from '../store/port.ts';
import { FoldCache, type Fold, type PriorOutcome } from './fold-cache.ts';
import { KeyedMutex } from './keyed-mutex.ts';
import type { RejectionBudget } from './rejection-budget.ts';

/** Where an input was recorded. */
export interface Recorded {
  stream: string;
  revision: number;
  position: number;
}

/**
 * What became of a command, as a value: `accepted` (appended now), `duplicate` (a retry of an
 * input already accepted: nothing appended, the original position) or `rejected` (recorded, with
 * every reason; `duplicate` when it is the replay of a recorded rejection). The HTTP layer maps
 * outcomes to statuses. Refusals that record nothing (a rejection budget spent, a store fault)
 * are thrown as errors instead: they are not outcomes of the input.
 */
export type CommandOutcome =
  | {
      outcome: 'accepted' | 'duplicate';
      revision: number;
      position: number;
      /** The aggregate's `answerOf`: the instance id and what the command allocated. */
      answer: Record<string, unknown>;
    }
  | { outcome: 'rejected'; reasons: Reason[]; recorded: Recorded; duplicate: boolean };

export interface CommandHandlerOptions {
  store: EventStore;
  /** Every recorded rejection is charged to its sender here. */
  rejections: RejectionBudget;
  /** Folds kept in memory. Default 10,000. */
  cacheSize?: number;
}

/**
 * How often a command reads what it missed and decides again after another process moved the
 * stream. Commands in one process are serialised per stream, so only cross-process races retry;
 * a jittered, growing pause keeps two busy processes from colliding in lockstep.
 */
const MAX_ATTEMPTS = 25;
const backoff = (attempt: number) =>
  new Promise<void>((resolve) => setTimeout(resolve, Math.random() * Math.min(50, 2 ** attempt)));

/**
 * The one command path, for any aggregate: the place where domain, store and idempotency meet.
 * Each command goes through numbered steps (see {@link CommandHandler.handle}); rejections are
 * values, recorded in the log before they are answered.
 */
export class CommandHandler<
  Command extends { metadata: CommandMetadata },
  State,
  Event extends RecordedEvent,
> {
  private readonly cache: FoldCache<State>;
  private readonly streams = new KeyedMutex();

  constructor(
    private readonly aggregate: Aggregate<Command, State, Event>,
    private readonly options: CommandHandlerOptions,
  ) {
    this.cache = new FoldCache(options.cacheSize ?? 10_000);
  }

  /**
   * Handles one command:
   *
   * 1. load the stream's fold (cached, or read and folded);
   * 2. admit the sender: one who may not act on the instance is recorded in the rejections
   *    stream, under no key, and answered as the aggregate says;
   * 3. answer a prior outcome for the command's scoped idempotency key (the same input: the
   *    original outcome, nothing appended; another input: a recorded IDEMPOTENCY_KEY_REUSED);
   * 4. decide on the fold;
   * 5. append at the fold's revision; when another process moved the stream (a revision
   *    conflict, or its own record of the same key), go back to 1 with a fresh read, at most
   *    {@link MAX_ATTEMPTS} times, after a jittered pause.
   *
   * Commands on one stream run one at a time in this process. A command that names no stream is
   * admitted and decided on the initial state and recorded in the rejections stream.
   */
  async handle(command: Command): Promise<CommandOutcome> {
    const stream = this.aggregate.streamOf(command);
    if (stream === undefined) return this.unattributed(command);
    return this.streams.run(stream, async () => {
      for (let attempt = 1; ; attempt += 1) {
        try {
          return await this.attempt(stream, command, attempt > 1);
        } catch (error) {
          const raced =
            isLedgerError(error, 'EXPECTED_REVISION_CONFLICT') ||
            isLedgerError(error, 'IDEMPOTENCY_KEY_REUSED');
          if (!raced || attempt >= MAX_ATTEMPTS) throw error;
          if (attempt > 1) await backoff(attempt);
        }
      }
    });
  }

  /** The stream's fold, caught up with the store (reads what this process has not seen). */
  async current(stream: string): Promise<Fold<State>> {
    return this.load(stream, true);
  }

  private async attempt(stream: string, command: Command, fresh: boolean): Promise<CommandOutcome> {
    const { aggregate } = this;
    // 1. Load.
    const fold = await this.load(stream, fresh);
    // 2. Admit.
    const refusal = aggregate.admit(command, fold.state);
    if (refusal !== undefined) return this.refuse(command, refusal);
    // 3. A prior outcome for the key.
    const keyed = aggregate.keyOf(command);
    const key =
      keyed === undefined
        ? undefined
        : scopedKey(keyed.space, command.metadata.principal, keyed.key);
    const prior = key === undefined ? undefined : fold.priors.get(key);
    if (prior !== undefined) return this.replay(stream, fold, command, prior);
    // 4. Decide.
    const decision = aggregate.decider.decide(command, fold.state);
    if (decision.outcome === 'rejected') this.charge(command, decision.events);
    // 5. Append at the fold's revision.
    const recorded = await this.append(stream, fold, command, decision.events, key);
    if (decision.outcome === 'rejected') {
      return {
        outcome: 'rejected',
        reasons: decision.reasons,
        recorded: recorded.at,
        duplicate: recorded.duplicate,
      };
    }
    return {
      outcome: recorded.duplicate ? 'duplicate' : 'accepted',
      revision: recorded.at.revision,
      position: recorded.at.position,
      answer: aggregate.answerOf(stream, decision.events.at(-1)),
    };
  }

  /**
   * A command whose key the stream holds: the same input gets the original outcome and appends
   * nothing; another input under the key is rejected and recorded, under no key, since the key
   * belongs to the original.
   */
  private async replay(
    stream: string,
    fold: Fold<State>,
    command: Command,
    prior: PriorOutcome,
  ): Promise<CommandOutcome> {
    const at = { stream, revision: prior.revision, position: prior.position };
    const digest = jsonDigest(this.aggregate.inputOf(command) ?? null);
    if (prior.inputDigest === undefined || prior.inputDigest !== digest) {
      const reason: Reason = {
        code: 'IDEMPOTENCY_KEY_REUSED',
        message: `The idempotency key was already used at revision ${prior.revision} for a different payload.`,
      };
      const event = this.aggregate.keyReused(command, reason);
      this.charge(command, [event]);
      const recorded = await this.append(stream, fold, command, [event], undefined);
      return { outcome: 'rejected', reasons: [reason], recorded: recorded.at, duplicate: false };
    }
    if (prior.reasons !== undefined && prior.reasons.length > 0) {
      return {
        outcome: 'rejected',
        reasons: this.withIssues(prior.reasons, command, fold.state),
        recorded: at,
        duplicate: true,
      };
    }
    return {
      outcome: 'duplicate',
      revision: prior.revision,
      position: prior.position,
      answer: prior.answer,
    };
  }

  /**
   * Stored reasons with the `issues` the answer lists (the log keeps `{code, message}` only). The
   * decider is asked again: issues derive from the input alone, and a replayed input is the same
   * input (its digest matched), so they are the ones the original answer listed.
   */
  private withIssues(reasons: Reason[], command: Command, state: State): Reason[] {
    const again = this.aggregate.decider.decide(command, state);
    if (again.outcome !== 'rejected') return reasons;
    return reasons.map((stored) => {
      const issues = again.reasons.find((r) => r.code === stored.code)?.issues;
      return issues === undefined ? stored : { ...stored, issues };
    });
  }

  /** A command that names no stream: decided on the initial state, recorded elsewhere. */
  private async unattributed(command: Command): Promise<CommandOutcome> {
    const initial = this.aggregate.decider.initialState();
    const refusal = this.aggregate.admit(command, initial);
    if (refusal !== undefined) return this.refuse(command, refusal);
    const decision = this.aggregate.decider.decide(command, initial);
    if (decision.outcome !== 'rejected')
      throw new Error('a command that names no stream was accepted: the aggregate is inconsistent');
    const recorded = await this.recordElsewhere(command, decision.reasons);
    return { outcome: 'rejected', reasons: decision.reasons, recorded, duplicate: false };
  }

  /** A sender refused: the true reason recorded in the rejections stream, `answered` answered. */
  private async refuse(command: Command, refusal: Refusal): Promise<CommandOutcome> {
    const recorded = await this.recordElsewhere(command, [refusal.recorded]);
    return { outcome: 'rejected', reasons: [refusal.answered], recorded, duplicate: false };
  }

  private async recordElsewhere(command: Command, reasons: Reason[]): Promise<Recorded> {
    const event = this.aggregate.unattributed(command, reasons);
    this.charge(command, [event]);
    const result = await this.options.store.append(REJECTIONS_STREAM, [
      {
        type: event.type,
        data: event.data as NewEvent['data'],
        metadata: this.metadata(command, undefined),
      },
    ]);
    return {
      stream: REJECTIONS_STREAM,
      revision: result.revisions[0]!,
      position: result.positions[0]!,
    };
  }

  /**
   * Takes a rejection about to be recorded from its sender's budget, or refuses it with
   * RATE_LIMITED (recorded nowhere: recording it would be what the budget prevents).
   */
  private charge(command: Command, events: readonly RecordedEvent[]): void {
    const bytes = events.reduce((sum, e) => sum + JSON.stringify(e.data).length, 0);
    const retryAfter = this.options.rejections.take(actorOf(command.metadata.principal), bytes);
    if (retryAfter === undefined) return;
    throw new LedgerError(
      'RATE_LIMITED',
      `Too many rejected inputs from this sender: retry in ${retryAfter} s.`,
      { retry_after_seconds: retryAfter },
    );
  }

  private metadata(command: Command, key: string | undefined) {
    const trace = this.aggregate.traceOf(command);
    return {
      actor: actorOf(command.metadata.principal),
      ...(trace === undefined ? {} : { trace_id: trace }),
      ...(key === undefined ? {} : { idempotency_key: key }),
    };
  }

  /** Appends at the fold's revision and, on success, folds the new events into the cache. */
  private async append(
    stream: string,
    fold: Fold<State>,
    command: Command,
    events: readonly RecordedEvent[],
    key: string | undefined,
  ): Promise<{ at: Recorded; duplicate: boolean }> {
    const metadata = this.metadata(command, key);
    const newEvents: NewEvent[] = events.map((e) => ({
      type: e.type,
      data: e.data as NewEvent['data'],
      metadata,
    }));
    try {
      const result = await this.options.store.append(stream, newEvents, {
        expectedRevision: fold.revision < 0 ? 'no_stream' : fold.revision,
      });
      if (result.revisions[0] === fold.revision + 1) {
        const appended = events.map((e, i) => ({
          ...e,
          revision: result.revisions[i]!,
          position: result.positions[i]!,
          metadata,
        }));
        this.cache.advance(stream, fold, this.fold(stream, fold, appended));
      } else {
        this.cache.delete(stream);
      }
      // `duplicate`: a retry in another process recorded the very same events first; the store
      // answered with the original, so this is a replay too.
      return {
        at: { stream, revision: result.revisions.at(-1)!, position: result.positions.at(-1)! },
        duplicate: result.duplicate,
      };
    } catch (error) {
      this.cache.delete(stream);
      throw error;
    }
  }

  /** The stream's fold: the cached one, or (when `fresh`, or not cached) caught up from the store. */
  private async load(stream: string, fresh: boolean): Promise<Fold<State>> {
    const cached = this.cache.get(stream);
    if (cached !== undefined && !fresh) return cached;
    const base = cached ?? {
      revision: -1,
      state: this.aggregate.decider.initialState(),
      priors: new Map<string, PriorOutcome>(),
    };
    const events: StoredEvent[] = await this.options.store.readStream(stream, {
      fromRevision: base.revision + 1,
    });
    const fold = this.fold(stream, base, events);
    // Streams that do not exist are not cached: a flood of bad ids must not evict real ones.
    if (fold.revision >= 0) this.cache.set(stream, fold);
    return fold;
  }

  /** Folds events (in revision order) onto `base`, with the outcomes of their keys. */
  private fold(
    stream: string,
    base: Fold<State>,
    events: readonly (FoldedEvent & { revision: number; position: number })[],
  ): Fold<State> {
    const { aggregate } = this;
    let { state, revision } = base;
    for (const event of events) {
      state = aggregate.decider.evolve(state, event);
      revision = event.revision;
      const key = aggregate.storedKeyOf(event);
      if (key === undefined) continue;
      const input = aggregate.recordedInput(event);
      const reasons = (event.data as { reasons?: Reason[] } | null)?.reasons;
      base.priors.set(key, {
        revision: event.revision,
        position: event.position,
        inputDigest: input === undefined ? undefined : jsonDigest(input),
        reasons,
        answer: aggregate.answerOf(stream, event),
      });
    }
    return { state, revision, priors: base.priors };
  }
}
