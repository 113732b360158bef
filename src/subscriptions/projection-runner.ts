import { sql, type Kysely, type RawBuilder } from 'kysely';
import { LedgerError } from '../errors.ts';
import type { EventStore, Position, StoredEvent } from '../store/port.ts';
import { assertSchemaName } from '../schema-migrations/schema-name.ts';
import { isTimeout } from '../store/open-store.ts';
import {
  advanceCheckpoint,
  createCheckpointRow,
  lockSetup,
  parkEvent,
  readCheckpoint,
  resetCheckpoint,
  setCheckpointStatus,
  type CheckpointRow,
  type ProjectionStatus,
} from './checkpoint-tables.ts';
import { migrateCheckpointTables } from './checkpoint-migrations.ts';
import type { Projection } from './projection.ts';

export type { ProjectionStatus } from './checkpoint-tables.ts';

/**
 * How runners of one projection exclude each other:
 * - `'advisory'`: a PostgreSQL session advisory lock held on a dedicated connection for the
 *   runner's lifetime; across processes, and released by the server when the process dies;
 * - `'in-process'`: a registry in this process, for PGlite, which one process owns;
 * - `'auto'` (default): `'in-process'` on PGlite, else `'advisory'`.
 */
export type ProjectionLockMode = 'auto' | 'advisory' | 'in-process';

export interface ProjectionRunnerOptions<DB> {
  /** The log: any EventStore adapter. */
  store: EventStore;
  /** Where the read model, its checkpoint and parked events live. Not closed by the runner. */
  db: Kysely<DB>;
  /** PostgreSQL schema of the read model; created if missing. */
  schema: string;
  projection: Projection<DB>;
  /** Most events per transaction. Default 500. */
  batchSize?: number;
  /** Tries of a failing batch before its events are retried one by one. Default 3. */
  maxAttempts?: number;
  /** Pause between tries of a failing batch, and before reconnecting after a fault. Default 100 ms. */
  retryDelayMs?: number;
  /** How often a runner without the lock tries again. Default 1 s. */
  lockPollMs?: number;
  /** Default `'auto'`. */
  lock?: ProjectionLockMode;
  /**
   * Stop once the checkpoint reaches this position instead of following the log: for rebuilds
   * and verification, which must end at an exact position. Events after it are not applied.
   */
  stopAfter?: Position;
}

/** What {@link ProjectionRunner.status} reports. */
export interface ProjectionRunnerStatus {
  name: string;
  /** Last position whose effects are committed to the read model (0: none). */
  position: Position;
  status: ProjectionStatus;
  /** Why it stalled; null otherwise. */
  error: string | null;
  /** True while this runner holds the projection's lock (false for a standby). */
  active: boolean;
}

/** The checkpoint moved under the runner: another writer owns the projection now. */
class OwnershipLost extends Error {}

/** The runner's database connection failed; the batch error was not the projection's fault. */
class ConnectionLost extends Error {}

type CommitOutcome = 'committed' | 'stalled' | 'stopped';

/** Projections running in this process, per database, for the `'in-process'` lock. */
const inProcessHolders = new WeakMap<object, Set<string>>();

/**
 * Feeds one {@link Projection} from the global log: catches up from its checkpoint, then follows
 * live appends. Each batch's `apply` and the checkpoint move commit in one transaction, so the read
 * model sees every event exactly once, even when the process dies mid-batch.
 *
 * A batch that keeps failing is tried `maxAttempts` times, then event by event: the events before
 * the failing one commit, the failing one is parked in `projection_parked` with its error, the
 * checkpoint is marked `stalled`, and the runner stops. A stalled projection stays stalled (other
 * runners of it do not retry it either) until started with `{ retryStalled: true }`.
 *
 * One runner per projection applies at a time, across processes (see {@link ProjectionLockMode});
 * the others wait and take over when it stops or dies.
 *
 * @example
 * const runner = new ProjectionRunner({ store, db, schema: 'read_models', projection });
 * await runner.start();
 * await runner.waitFor(await store.headPosition(), 5_000);
 * await runner.stop();
 */
export class ProjectionRunner<DB> {
  private readonly store: EventStore;
  private readonly db: Kysely<DB>;
  private readonly schema: string;
  private readonly projection: Projection<DB>;
  private readonly batchSize: number;
  private readonly maxAttempts: number;
  private readonly retryDelayMs: number;
  private readonly lockPollMs: number;
  private readonly lockMode: ProjectionLockMode;
  private readonly stopAfter: Position | undefined;
  private readonly version: number;

  private position: Position = 0;
  private generation = 0;
  private state: ProjectionStatus = 'stopped';
  private error: string | null = null;
  private active = false;
  private loop: Promise<void> | undefined;
  private stopping = new AbortController();
  private readonly waiters = new Set<() => void>();

  constructor(options: ProjectionRunnerOptions<DB>) {
    assertSchemaName(options.schema);
    if (options.projection.name.length === 0 || options.projection.name.length > 200) {
      throw new LedgerError('CONFIGURATION_INVALID', 'A projection name has 1 to 200 characters.');
    }
    this.store = options.store;
    this.db = options.db;
    this.schema = options.schema;
    this.projection = options.projection;
    this.batchSize = positive(options.batchSize ?? 500, 'batchSize');
    this.maxAttempts = positive(options.maxAttempts ?? 3, 'maxAttempts');
    this.retryDelayMs = options.retryDelayMs ?? 100;
    this.lockPollMs = options.lockPollMs ?? 1000;
    this.lockMode = options.lock ?? 'auto';
    this.stopAfter = options.stopAfter;
    this.version = options.projection.version ?? 0;
  }

  /**
   * Creates the checkpoint tables and the projection's tables (idempotent), then runs in the
   * background: it resolves once set up, not once caught up (see {@link waitFor}). A runner
   * that does not get the lock waits as a standby.
   */
  async start(options: { retryStalled?: boolean } = {}): Promise<void> {
    if (this.loop !== undefined) throw new Error(`Projection ${this.projection.name} is running.`);
    await migrateCheckpointTables(this.db, this.schema);
    await this.db.transaction().execute(async (trx) => {
      await lockSetup(trx, this.schema);
      await createCheckpointRow(trx, this.schema, this.projection.name, this.version);
      const created = (await this.projection.setup(trx, this.schema)) === true;
      if (created && (await readCheckpoint(trx, this.schema, this.projection.name)).position > 0) {
        // The tables were dropped: what the checkpoint covers is gone, so start over from 0.
        await resetCheckpoint(trx, this.schema, this.projection.name, this.version);
      }
    });
    if (options.retryStalled === true) {
      // Only the status changes, never the position: safe without the lock, and it lets whichever
      // runner holds or takes the lock retry the parked event.
      await sql`update ${sql.table(`${this.schema}.projection_checkpoints`)}
                   set status = 'stopped', error = null, updated_at = now()
                 where name = ${this.projection.name} and status = 'stalled'`.execute(this.db);
    }
    this.refresh(await readCheckpoint(this.db, this.schema, this.projection.name));
    const mode = this.lockMode === 'auto' ? await detectLockMode(this.db) : this.lockMode;
    this.stopping = new AbortController();
    this.loop = this.run(mode);
  }

  /**
   * Stops: the batch in flight finishes (or rolls back), the checkpoint is marked `stopped`
   * unless stalled, and the lock is released. Idempotent.
   */
  async stop(): Promise<void> {
    this.stopping.abort();
    await this.loop;
    this.loop = undefined;
    this.wakeWaiters();
  }

  /** The runner's view of its projection (a standby's is refreshed every `lockPollMs`). */
  status(): ProjectionRunnerStatus {
    return {
      name: this.projection.name,
      position: this.position,
      status: this.state,
      error: this.error,
      active: this.active,
    };
  }

  /**
   * Resolves true once the checkpoint has reached `position`, false after `timeoutMs` — or at
   * once when the projection is stalled or the runner stopped, since it would not move.
   */
  waitFor(position: Position, timeoutMs: number): Promise<boolean> {
    return new Promise((resolve) => {
      const check = () => {
        if (this.position >= position) finish(true);
        else if (this.state === 'stalled' || this.loop === undefined) finish(false);
      };
      const finish = (reached: boolean) => {
        clearTimeout(timer);
        this.waiters.delete(check);
        resolve(reached);
      };
      const timer = setTimeout(() => finish(false), timeoutMs);
      this.waiters.add(check);
      check();
    });
  }

  /** Restarts a session after faults (lost connection, lost ownership) until stopped. */
  private async run(mode: 'advisory' | 'in-process'): Promise<void> {
    while (!this.stopping.signal.aborted) {
      try {
        if (mode === 'in-process') await this.inProcessSession();
        else await this.db.connection().execute((conn) => this.advisorySession(conn));
        break; // stopped or stalled
      } catch {
        // A fault outside the projection: the uncommitted batch rolled back, so resuming from
        // the stored checkpoint (on a fresh connection, re-taking the lock) is always safe.
        // Another runner may apply batches before this one takes the lock again: caches of the
        // projection's tables are stale.
        this.active = false;
        this.notify('rolledBack');
        await sleep(this.retryDelayMs, this.stopping.signal);
      }
    }
    this.active = false;
    if (this.state !== 'stalled') this.state = 'stopped';
    this.wakeWaiters();
  }

  private async inProcessSession(): Promise<void> {
    let holders = inProcessHolders.get(this.db);
    if (holders === undefined) inProcessHolders.set(this.db, (holders = new Set()));
    const key = `${this.schema}\u0000${this.projection.name}`;
    while (holders.has(key)) {
      if (!(await this.standby(this.db))) return;
    }
    holders.add(key);
    try {
      await this.session(this.db);
    } finally {
      holders.delete(key);
    }
  }

  /** Everything runs on `conn`, which holds the lock: if it dies, the lock and the batch go too. */
  private async advisorySession(conn: Kysely<DB>): Promise<void> {
    const key = sql`hashtextextended(${`mission-ledger:projection:${this.schema}:${this.projection.name}`}, 0)`;
    for (;;) {
      const { rows } = await sql<{
        ok: boolean;
      }>`select pg_try_advisory_lock(${key}) as ok`.execute(conn);
      if (rows[0]?.ok === true) break;
      if (!(await this.standby(conn))) return;
    }
    try {
      await this.session(conn);
    } finally {
      await sql`select pg_advisory_unlock(${key})`.execute(conn).catch(() => undefined);
    }
  }

  /** Waits one poll interval as a standby, keeping the status fresh. False once stopping. */
  private async standby(db: Kysely<DB>): Promise<boolean> {
    this.refresh(await readCheckpoint(db, this.schema, this.projection.name));
    await sleep(this.lockPollMs, this.stopping.signal);
    return !this.stopping.signal.aborted;
  }

  /** Holds the lock: catch up and follow the log until stopped or stalled. */
  private async session(db: Kysely<DB>): Promise<void> {
    const checkpoint = await readCheckpoint(db, this.schema, this.projection.name);
    this.refresh(checkpoint);
    if (checkpoint.status === 'stalled') return;
    if (checkpoint.version !== this.version) {
      if (checkpoint.position > 0) {
        await this.stallOnVersion(db, checkpoint.version);
        return;
      }
      // Nothing built yet: the empty tables are this version's.
      await sql`update ${sql.table(`${this.schema}.projection_checkpoints`)}
                   set version = ${this.version}
                 where name = ${this.projection.name} and position = 0`.execute(db);
    }
    if (this.stopAfter !== undefined && this.position >= this.stopAfter) return;
    await setCheckpointStatus(db, this.schema, this.projection.name, 'running', null);
    this.active = true;
    this.state = 'running';
    this.error = null;

    const outcome = await this.follow(db);
    if (outcome !== 'stalled') {
      await setCheckpointStatus(db, this.schema, this.projection.name, 'stopped', null);
    }
  }

  /**
   * Reads the subscription into batches. A batch is committed when full, or partial when the
   * subscription reports it has delivered everything committed so far.
   */
  private async follow(db: Kysely<DB>): Promise<CommitOutcome> {
    const reading = new AbortController();
    const stop = () => reading.abort();
    this.stopping.signal.addEventListener('abort', stop, { once: true });
    if (this.stopping.signal.aborted) stop(); // stop() came while the session was starting
    // The subscription says "caught up" through a flag and a one-shot wake-up slot rather than a
    // promise raced against every event: a pending promise raced a million times during a long
    // catch-up keeps a reaction — and through it each event — alive until it settles.
    let caughtUp = false;
    let wake: ((step: 'caught-up') => void) | undefined;
    const events = this.store.subscribe({
      after: this.position,
      batchSize: this.batchSize,
      signal: reading.signal,
      onCaughtUp: () => {
        caughtUp = true;
        wake?.('caught-up');
      },
    });
    // Observed when awaited below, but a batch may be committing when it settles: mark it
    // handled at once so a failed read is not reported as an unhandled rejection.
    const read = () => {
      const promise = events.next();
      promise.catch(() => undefined);
      return promise;
    };
    let next = read();
    let batch: StoredEvent[] = [];
    let outcome: CommitOutcome = 'stopped';
    try {
      for (;;) {
        const step = caughtUp
          ? ('caught-up' as const)
          : await new Promise<IteratorResult<StoredEvent> | 'caught-up'>((resolve, reject) => {
              wake = resolve;
              next.then(resolve, reject);
            });
        wake = undefined;
        if (step === 'caught-up') {
          caughtUp = false;
          if (batch.length > 0) {
            outcome = await this.commit(db, batch);
            batch = [];
            if (outcome !== 'committed') break;
          }
          continue;
        }
        if (step.done === true) break;
        if (this.stopAfter !== undefined && step.value.position > this.stopAfter) break;
        batch.push(step.value);
        if (batch.length >= this.batchSize || step.value.position === this.stopAfter) {
          outcome = await this.commit(db, batch);
          batch = [];
          if (outcome !== 'committed' || this.position === this.stopAfter) break;
        }
        next = read();
      }
      // The subscription ended (stop() between events): commit what was already read.
      if (batch.length > 0) outcome = await this.commit(db, batch);
      return outcome === 'stalled' ? 'stalled' : 'stopped';
    } finally {
      this.stopping.signal.removeEventListener('abort', stop);
      reading.abort();
      // The aborted subscription returns from its wait; drain it so it releases its resources.
      await next.catch(() => undefined);
      await events.return?.().catch(() => undefined);
    }
  }

  /** Commits a batch, retrying it, and on repeated failure isolates and parks the poison event. */
  private async commit(db: Kysely<DB>, events: StoredEvent[]): Promise<CommitOutcome> {
    let lastError: unknown;
    for (let attempt = 1; attempt <= this.maxAttempts; attempt += 1) {
      try {
        await this.applyBatch(db, events);
        return 'committed';
      } catch (error) {
        await this.blameProjection(db, error);
        lastError = error;
      }
      if (this.stopping.signal.aborted) return 'stopped';
      if (attempt < this.maxAttempts) await sleep(this.retryDelayMs, this.stopping.signal);
    }
    if (events.length === 1 && events[0] !== undefined) {
      return this.stall(db, events[0], lastError, this.maxAttempts);
    }
    // One by one: everything before the poison event commits, the poison event is found.
    for (const event of events) {
      try {
        await this.applyBatch(db, [event]);
      } catch (error) {
        await this.blameProjection(db, error);
        return this.stall(db, event, error, this.maxAttempts + 1);
      }
    }
    return 'committed'; // the failure was transient after all
  }

  /**
   * Rethrows what is not the projection's fault, so the batch is retried from the checkpoint on
   * a fresh connection instead of parking a healthy event.
   */
  private async blameProjection(db: Kysely<DB>, error: unknown): Promise<void> {
    if (error instanceof OwnershipLost) throw error;
    // A deadline (a statement or lock wait cut short, say while `replay --verify` pins the
    // checkpoint) says the database was slow, not that the events are bad: never park for it.
    if (isTimeout(error))
      throw new ConnectionLost('A read-model call timed out.', { cause: error });
    try {
      await sql`select 1`.execute(db);
    } catch (probe) {
      throw new ConnectionLost('The read-model connection failed.', { cause: probe });
    }
  }

  /** `apply` and the checkpoint move in one transaction: exactly once, whatever happens. */
  private async applyBatch(db: Kysely<DB>, events: readonly StoredEvent[]): Promise<void> {
    const last = events.at(-1);
    if (last === undefined) return;
    const from = this.position;
    const handles = this.projection.handles?.bind(this.projection);
    const handled = handles === undefined ? events : events.filter((e) => handles(e.type));
    const moveTo = (
      on: Kysely<DB>,
      writes?: (gate: RawBuilder<unknown>) => RawBuilder<unknown>[],
    ) =>
      advanceCheckpoint(
        on,
        this.schema,
        this.projection.name,
        { position: from, generation: this.generation },
        last.position,
        writes,
      ).then((moved) => {
        if (!moved) throw new OwnershipLost(`The checkpoint of ${this.projection.name} moved.`);
      });
    try {
      if (this.projection.prepare !== undefined) {
        // One statement: the fold first (reads only), then the move with the writes gated on it.
        const writes =
          handled.length > 0 ? await this.projection.prepare(db, handled, this.schema) : undefined;
        await moveTo(db, writes);
      } else {
        await db.transaction().execute(async (trx) => {
          // First, so the row lock serialises any other writer before the projection writes.
          await moveTo(trx);
          if (handled.length > 0) await this.projection.apply(trx, handled, this.schema);
        });
      }
    } catch (error) {
      // Rolled back, or (a failed COMMIT) possibly committed: the projection cannot know which.
      this.notify('rolledBack');
      throw error;
    }
    this.position = last.position;
    this.notify('committed');
    this.wakeWaiters();
  }

  /**
   * Calls an optional transaction hook of the projection. A hook that throws is a bug of the
   * projection, not of the batch: it must not turn a committed batch into a retried one.
   */
  private notify(hook: 'committed' | 'rolledBack'): void {
    try {
      this.projection[hook]?.();
    } catch {
      // The hooks are documented not to throw; nothing sensible to do here.
    }
  }

  /** The tables were built by another version of the projection: continuing would mix meanings. */
  private async stallOnVersion(db: Kysely<DB>, built: number): Promise<void> {
    const message =
      `The tables of ${this.projection.name} were built by version ${built}; this is version ` +
      `${this.version}. Rebuild them: ledger projections rebuild ${this.projection.name}`;
    await setCheckpointStatus(db, this.schema, this.projection.name, 'stalled', message);
    this.state = 'stalled';
    this.error = message;
    this.wakeWaiters();
  }

  private async stall(
    db: Kysely<DB>,
    event: StoredEvent,
    error: unknown,
    attempts: number,
  ): Promise<'stalled'> {
    const message = `${error instanceof Error ? error.message : String(error)} (position ${event.position})`;
    await db.transaction().execute(async (trx) => {
      await parkEvent(trx, this.schema, this.projection.name, event, message, attempts);
      await setCheckpointStatus(trx, this.schema, this.projection.name, 'stalled', message);
    });
    this.state = 'stalled';
    this.error = message;
    this.wakeWaiters();
    return 'stalled';
  }

  private refresh(row: CheckpointRow) {
    this.position = row.position;
    this.generation = row.generation;
    this.state = row.status;
    this.error = row.error;
    this.wakeWaiters();
  }

  private wakeWaiters(): void {
    for (const check of [...this.waiters]) check();
  }
}

/** PGlite reports a wasm build in `version()`; it has one connection, owned by this process. */
async function detectLockMode<DB>(db: Kysely<DB>): Promise<'advisory' | 'in-process'> {
  const { rows } = await sql<{ version: string }>`select version() as version`.execute(db);
  return rows[0]?.version.includes('wasm') === true ? 'in-process' : 'advisory';
}

function positive(value: number, name: string): number {
  if (!Number.isSafeInteger(value) || value < 1) {
    throw new LedgerError('CONFIGURATION_INVALID', `${name} must be a positive integer.`);
  }
  return value;
}

/** Resolves after `ms`, or at once when `signal` aborts. */
function sleep(ms: number, signal: AbortSignal): Promise<void> {
  if (signal.aborted) return Promise.resolve();
  return new Promise((resolve) => {
    const done = () => {
      clearTimeout(timer);
      signal.removeEventListener('abort', done);
      resolve();
    };
    const timer = setTimeout(done, ms);
    signal.addEventListener('abort', done, { once: true });
  });
}
