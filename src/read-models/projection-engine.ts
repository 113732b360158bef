import { sql, type Kysely } from 'kysely';
import type { ProjectionFold } from '../../projections/projection.ts';
import { LedgerError } from '../errors.ts';
import { assertSchemaName } from '../schema-migrations/schema-name.ts';
import { isTimeout } from '../store/open-store.ts';
import type { EventStore, Position, StoredEvent } from '../store/port.ts';
import { migrateCheckpointTables } from './checkpoint-migrations.ts';
import {
  adoptVersion,
  clearStalls,
  createCheckpointRow,
  lockSetup,
  moveCheckpoints,
  readCheckpoint,
  readCheckpoints,
  resetCheckpoint,
  setCheckpointStatus,
  type ProjectionStatus,
} from './checkpoints.ts';
import { ProjectionSet, type Lane, type LaneWrite } from './projection-set.ts';
import { createReadModelTables, type AnyTables } from './read-model-tables.ts';

export type { ProjectionStatus } from './checkpoints.ts';

/**
 * How projectors of one read-model schema exclude each other:
 * - `'advisory'`: a PostgreSQL session advisory lock held on a dedicated connection for the
 *   session; across processes, and released by the server when the process dies;
 * - `'in-process'`: a registry of the database handle, for PGlite, which one process owns;
 * - `'auto'` (default): `'in-process'` on PGlite, else `'advisory'`.
 */
export type ProjectionLockMode = 'auto' | 'advisory' | 'in-process';

export interface ProjectionEngineOptions {
  /** The log: any EventStore adapter. */
  store: EventStore;
  /** Where the read models, their checkpoints and parked events live. Not closed by the engine. */
  db: Kysely<unknown>;
  /** PostgreSQL schema of the read models; created if missing. */
  schema: string;
  folds: readonly ProjectionFold<AnyTables>[];
  /** Most events per batch. Default 500. */
  batchSize?: number;
  /** Tries of a failing batch before each projection is tried alone. Default 3. */
  maxAttempts?: number;
  /** Pause between tries of a failing batch, and before reconnecting after a fault. Default 100 ms. */
  retryDelayMs?: number;
  /** How often a standby tries to take the lock, and the stalls are checked. Default 1 s. */
  lockPollMs?: number;
  /** Default `'auto'`. */
  lock?: ProjectionLockMode;
  /** Rows cached per projection between batches. Default 20,000. */
  maxCachedRows?: number;
}

/** What {@link ProjectionEngine.status} reports for each projection. */
export interface ProjectionEngineStatus {
  name: string;
  /** Last position whose effects are committed to the read model (0: none). */
  position: Position;
  status: ProjectionStatus;
  /** Why it stalled; null otherwise. */
  error: string | null;
  /** True while this engine holds the projector lock (false for a standby). */
  active: boolean;
}

/** A checkpoint moved under the engine: a rebuild swapped tables, or another writer runs. */
class OwnershipLost extends Error {}

/** The engine's database connection failed; the batch error was not a projection's fault. */
class ConnectionLost extends Error {}

/** A stall was cleared elsewhere: start a new session, which picks the projection up again. */
class Restart extends Error {}

/** Default of {@link ProjectionEngineOptions.maxCachedRows}. */
export const DEFAULT_MAX_CACHED_ROWS = 20_000;

/** Engines running in this process, per database, for the `'in-process'` lock. */
const inProcessHolders = new WeakMap<object, Set<string>>();

/**
 * Live serving of every projection in one pass: catches up from the checkpoints, then follows
 * live appends. Each batch of the log is read once, folded into every projection by a
 * {@link ProjectionSet}, and written with every checkpoint move in one statement (each
 * projection's rows gated on its own compare-and-set), so the read models see every event exactly
 * once even when the process dies mid-batch, and a batch costs one round trip however many
 * projections there are.
 *
 * A projection whose fold throws on an event (malformed stored data) stalls alone at that event,
 * which is parked; the others go on. A batch whose write keeps failing is tried `maxAttempts`
 * times with every projection, then each projection alone, then, for a projection that still
 * fails, event by event: the events before the failing one commit, the failing one is parked and
 * the projection stalls. A stalled projection stays stalled until a rebuild or
 * `ledger projections retry NAME` clears it, in any process; the engine then picks it up again.
 *
 * One engine per read-model schema applies at a time, across processes (see
 * {@link ProjectionLockMode}); the others are standbys and take over when it stops or dies.
 *
 * @example
 * const engine = new ProjectionEngine({ store, db, schema: 'read_models', folds: projections });
 * await engine.start();
 * await engine.waitFor('mission_state', await store.headPosition(), 5_000);
 * await engine.stop();
 */
export class ProjectionEngine {
  private readonly store: EventStore;
  private readonly db: Kysely<unknown>;
  private readonly schema: string;
  private readonly folds: readonly ProjectionFold<AnyTables>[];
  private readonly batchSize: number;
  private readonly maxAttempts: number;
  private readonly retryDelayMs: number;
  private readonly lockPollMs: number;
  private readonly lockMode: ProjectionLockMode;
  private readonly set: ProjectionSet;

  private active = false;
  private loop: Promise<void> | undefined;
  private stopping = new AbortController();
  /** Aborts the session's reading when a stall was cleared elsewhere. */
  private restarting: AbortController | undefined;
  private readonly waiters = new Set<() => void>();
  /** The status of a projection as last read or written, by name. */
  private readonly statuses = new Map<string, { status: ProjectionStatus; error: string | null }>();

  constructor(options: ProjectionEngineOptions) {
    assertSchemaName(options.schema);
    const names = options.folds.map((fold) => fold.name);
    if (new Set(names).size !== names.length) {
      throw new LedgerError(
        'CONFIGURATION_INVALID',
        `Projections named twice: ${names.join(', ')}.`,
      );
    }
    if (names.some((name) => name.length === 0 || name.length > 200)) {
      throw new LedgerError('CONFIGURATION_INVALID', 'A projection name has 1 to 200 characters.');
    }
    this.store = options.store;
    this.db = options.db;
    this.schema = options.schema;
    this.folds = options.folds;
    this.batchSize = positive(options.batchSize ?? 500, 'batchSize');
    this.maxAttempts = positive(options.maxAttempts ?? 3, 'maxAttempts');
    this.retryDelayMs = options.retryDelayMs ?? 100;
    this.lockPollMs = options.lockPollMs ?? 1000;
    this.lockMode = options.lock ?? 'auto';
    this.set = new ProjectionSet(options.folds, {
      db: options.db,
      schema: options.schema,
      maxCachedRows: options.maxCachedRows ?? DEFAULT_MAX_CACHED_ROWS,
      status: 'running',
    });
  }

  /**
   * Creates the checkpoint tables and every projection's tables (idempotent), then runs in the
   * background: it resolves once set up, not once caught up (see {@link waitFor}). An engine that
   * does not get the lock waits as a standby. `retryStalled` clears the projections' stalls first.
   */
  async start(options: { retryStalled?: boolean } = {}): Promise<void> {
    if (this.loop !== undefined) throw new Error('The projection engine is running.');
    await setUpProjections(this.db, this.schema, this.folds);
    if (options.retryStalled === true) {
      // Only the status changes, never the position: safe without the lock, and it lets
      // whichever engine holds or takes the lock retry the parked events.
      await clearStalls(
        this.db,
        this.schema,
        this.folds.map((fold) => fold.name),
      );
    }
    await this.refresh(this.db);
    const mode = this.lockMode === 'auto' ? await detectLockMode(this.db) : this.lockMode;
    this.stopping = new AbortController();
    this.loop = this.run(mode);
  }

  /**
   * Stops: the batch in flight finishes (or rolls back), the checkpoints are marked `stopped`
   * unless stalled, and the lock is released. Idempotent.
   */
  async stop(): Promise<void> {
    this.stopping.abort();
    await this.loop;
    this.loop = undefined;
    this.wakeWaiters();
  }

  /** True while this engine holds the projector lock. */
  get isActive(): boolean {
    return this.active;
  }

  /** Each projection's state as this engine knows it (a standby's is refreshed every `lockPollMs`). */
  status(): ProjectionEngineStatus[] {
    return this.set.lanes.map((lane) => ({
      name: lane.fold.name,
      position: lane.committed,
      ...(this.statuses.get(lane.fold.name) ?? { status: 'stopped' as const, error: null }),
      active: this.active,
    }));
  }

  /**
   * The rows projection `name` holds cached, by table then key (`undefined`: cached as absent).
   * Each equals what its table holds once the batch that wrote it committed. For tests.
   */
  cachedRows(name: string): Map<string, Map<string, unknown>> {
    return this.set.lane(name)?.rows.cachedRows() ?? new Map<string, Map<string, unknown>>();
  }

  /**
   * Resolves true once projection `name` has applied `position`; false after `timeoutMs`, or at
   * once when it is stalled or the engine stopped, since it would not move.
   */
  waitFor(name: string, position: Position, timeoutMs: number): Promise<boolean> {
    const lane = this.set.lane(name);
    if (lane === undefined) return Promise.resolve(false);
    return new Promise((resolve) => {
      const check = () => {
        if (lane.committed >= position) finish(true);
        else if (lane.stalled !== undefined || this.loop === undefined) finish(false);
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
        if (this.stopping.signal.aborted) break;
      } catch (error) {
        // A fault outside the projections, a lost compare-and-set or a cleared stall: the
        // uncommitted batch rolled back, so resuming from the stored checkpoints (on a fresh
        // connection, re-taking the lock) is always safe. Another engine may apply batches
        // before this one takes the lock again: the row caches are stale.
        this.active = false;
        for (const lane of this.set.lanes) this.set.rewind(lane);
        if (!(error instanceof Restart)) await sleep(this.retryDelayMs, this.stopping.signal);
      }
    }
    this.active = false;
    for (const [name, state] of this.statuses) {
      if (state.status !== 'stalled') this.statuses.set(name, { status: 'stopped', error: null });
    }
    this.wakeWaiters();
  }

  private async inProcessSession(): Promise<void> {
    let holders = inProcessHolders.get(this.db);
    if (holders === undefined) inProcessHolders.set(this.db, (holders = new Set()));
    while (holders.has(this.schema)) {
      if (!(await this.standby(this.db))) return;
    }
    holders.add(this.schema);
    try {
      await this.session(this.db);
    } finally {
      holders.delete(this.schema);
    }
  }

  /** Everything runs on `conn`, which holds the lock: if it dies, the lock and the batch go too. */
  private async advisorySession(conn: Kysely<unknown>): Promise<void> {
    const key = sql`hashtextextended(${`mission-ledger:projector:${this.schema}`}, 0)`;
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
  private async standby(db: Kysely<unknown>): Promise<boolean> {
    await this.refresh(db);
    await sleep(this.lockPollMs, this.stopping.signal);
    return !this.stopping.signal.aborted;
  }

  /** Holds the lock: catch up and follow the log until stopped. */
  private async session(db: Kysely<unknown>): Promise<void> {
    const checkpoints = await this.refresh(db);
    for (const lane of this.set.lanes) {
      const checkpoint = checkpoints.get(lane.fold.name)!;
      if (lane.stalled !== undefined || checkpoint.version === lane.fold.version) continue;
      if (checkpoint.position > 0) {
        const error =
          `The tables of ${lane.fold.name} were built by version ${checkpoint.version}; this is ` +
          `version ${lane.fold.version}. Rebuild them: ledger projections rebuild ${lane.fold.name}`;
        await setCheckpointStatus(db, this.schema, lane.fold.name, 'stalled', error);
        this.markStalled(lane, error);
      } else {
        // Nothing built yet: the empty tables are this version's.
        await adoptVersion(db, this.schema, lane.fold.name, lane.fold.version);
      }
    }
    for (const lane of this.set.running()) {
      await setCheckpointStatus(db, this.schema, lane.fold.name, 'running', null);
      this.statuses.set(lane.fold.name, { status: 'running', error: null });
    }
    this.active = true;
    this.wakeWaiters();
    const restarting = new AbortController();
    this.restarting = restarting;
    const watch = setInterval(() => void this.watchStalls(db, restarting), this.lockPollMs);
    watch.unref();
    try {
      await this.follow(db, restarting.signal);
    } finally {
      clearInterval(watch);
      this.restarting = undefined;
    }
    if (restarting.signal.aborted && !this.stopping.signal.aborted) throw new Restart();
    for (const lane of this.set.running()) {
      await setCheckpointStatus(db, this.schema, lane.fold.name, 'stopped', null);
    }
  }

  /**
   * Reads the log into batches. A batch is committed when full, or partial when the subscription
   * reports it has delivered everything committed so far.
   */
  private async follow(db: Kysely<unknown>, restarting: AbortSignal): Promise<void> {
    const running = this.set.running();
    if (running.length === 0) {
      // Every projection is stalled: wait for a stall to be cleared, or for stop().
      await untilAborted(AbortSignal.any([this.stopping.signal, restarting]));
      return;
    }
    const reading = new AbortController();
    const stop = () => reading.abort();
    const signal = AbortSignal.any([this.stopping.signal, restarting]);
    signal.addEventListener('abort', stop, { once: true });
    if (signal.aborted) stop();
    // "Caught up" comes through a flag and a one-shot wake-up slot rather than a promise raced
    // against every event: a pending promise raced a million times during a long catch-up keeps a
    // reaction — and through it each event — alive until it settles.
    let caughtUp = false;
    let wake: ((step: 'caught-up') => void) | undefined;
    const events = this.store.subscribe({
      after: Math.min(...running.map((lane) => lane.committed)),
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
            await this.commit(db, batch);
            batch = [];
          }
          continue;
        }
        if (step.done === true) break;
        batch.push(step.value);
        if (batch.length >= this.batchSize) {
          await this.commit(db, batch);
          batch = [];
        }
        next = read();
      }
      // The subscription ended (stop() between events): commit what was already read.
      if (batch.length > 0) await this.commit(db, batch);
    } finally {
      signal.removeEventListener('abort', stop);
      reading.abort();
      // The aborted subscription returns from its wait; drain it so it releases its resources.
      await next.catch(() => undefined);
      await events.return?.().catch(() => undefined);
    }
  }

  /**
   * Commits a batch for every running projection, retrying it; on repeated failure tries each
   * projection alone, and isolates and parks the event a projection cannot write.
   */
  private async commit(db: Kysely<unknown>, events: StoredEvent[]): Promise<void> {
    if (await this.attempts(db, events, this.set.running())) return;
    if (this.stopping.signal.aborted) return;
    for (const lane of this.set.running()) {
      if (await this.attempts(db, events, [lane])) continue;
      if (this.stopping.signal.aborted) return;
      // Event by event: everything before the poison event commits, the poison event is found.
      for (const event of events) {
        if (event.position <= lane.committed) continue;
        try {
          await this.write(db, [event], [lane]);
        } catch (error) {
          await this.blameProjections(db, error);
          await this.stall(db, lane, event, error);
          break;
        }
      }
    }
  }

  /** Tries `lanes` on `events` up to `maxAttempts` times; true once it committed. */
  private async attempts(
    db: Kysely<unknown>,
    events: StoredEvent[],
    lanes: Lane[],
  ): Promise<boolean> {
    for (let attempt = 1; attempt <= this.maxAttempts; attempt += 1) {
      try {
        await this.write(db, events, lanes);
        return true;
      } catch (error) {
        await this.blameProjections(db, error);
      }
      if (this.stopping.signal.aborted) return false;
      if (attempt < this.maxAttempts) await sleep(this.retryDelayMs, this.stopping.signal);
    }
    return false;
  }

  /** Folds `events` into `lanes` and writes them with their checkpoint moves in one statement. */
  private async write(db: Kysely<unknown>, events: StoredEvent[], lanes: Lane[]): Promise<void> {
    const last = events.at(-1);
    if (last === undefined) return;
    let writes: LaneWrite[] = [];
    try {
      await this.set.fold(events, lanes);
      // Every lane moves to the batch's end, also through events it does not handle; never back:
      // a lane ahead of the batch (it was further along when the session began) stays where it is.
      for (const lane of lanes) {
        if (lane.failure === undefined) lane.position = Math.max(lane.position, last.position);
      }
      writes = this.set.seal(lanes);
      const moved = await moveCheckpoints(
        db,
        this.schema,
        writes.map((w) => w.move),
      );
      writes.forEach((write, i) => {
        if (moved[i] !== true) {
          this.set.rolledBack(write);
          return;
        }
        this.set.committed(write);
        if (write.lane.stalled !== undefined)
          this.markStalled(write.lane, write.lane.stalled.error);
      });
      this.wakeWaiters();
      const lost = writes.filter((_, i) => moved[i] !== true);
      if (lost.length > 0) {
        throw new OwnershipLost(
          `The checkpoint of ${lost.map((w) => w.lane.fold.name).join(', ')} moved.`,
        );
      }
    } catch (error) {
      // Rolled back, or (a failed statement) possibly committed: the lanes cannot know which.
      for (const lane of lanes) this.set.rewind(lane);
      throw error;
    }
  }

  /**
   * Rethrows what is not a projection's fault, so the batch is retried from the checkpoints on a
   * fresh connection instead of parking a healthy event.
   */
  private async blameProjections(db: Kysely<unknown>, error: unknown): Promise<void> {
    if (error instanceof OwnershipLost) throw error;
    // A deadline (a statement or lock wait cut short, say while `replay --verify` pins the
    // checkpoints) says the database was slow, not that the events are bad: never park for it.
    if (isTimeout(error)) {
      throw new ConnectionLost('A read-model call timed out.', { cause: error });
    }
    try {
      await sql`select 1`.execute(db);
    } catch (probe) {
      throw new ConnectionLost('The read-model connection failed.', { cause: probe });
    }
  }

  /** Parks `event` for `lane` and stalls it, keeping everything committed before it. */
  private async stall(
    db: Kysely<unknown>,
    lane: Lane,
    event: StoredEvent,
    error: unknown,
  ): Promise<void> {
    const message = `${error instanceof Error ? error.message : String(error)} (position ${event.position})`;
    const [moved] = await moveCheckpoints(db, this.schema, [
      {
        name: lane.fold.name,
        from: { position: lane.committed, generation: lane.generation },
        to: lane.committed,
        status: 'running',
        stall: { event, error: message, attempts: this.maxAttempts + 1 },
        writes: () => [],
      },
    ]);
    if (moved !== true) throw new OwnershipLost(`The checkpoint of ${lane.fold.name} moved.`);
    this.markStalled(lane, message);
  }

  private markStalled(lane: Lane, error: string): void {
    lane.stalled = { error };
    this.statuses.set(lane.fold.name, { status: 'stalled', error });
    this.wakeWaiters();
  }

  /**
   * Reads every checkpoint: positions and statuses for {@link status}, and the stalls, which
   * the lanes take on. Returns them by name.
   */
  private async refresh(db: Kysely<unknown>) {
    const names = this.folds.map((fold) => fold.name);
    const checkpoints = await readCheckpoints(db, this.schema, names);
    for (const lane of this.set.lanes) {
      const checkpoint = checkpoints.get(lane.fold.name);
      if (checkpoint === undefined) continue;
      this.set.resetTo(lane, checkpoint);
      this.statuses.set(lane.fold.name, { status: checkpoint.status, error: checkpoint.error });
    }
    this.wakeWaiters();
    return checkpoints;
  }

  /**
   * Restarts the session when a stalled projection's checkpoint is no longer stalled (a rebuild
   * or a retry, in any process), so it runs again with a fresh cache.
   */
  private async watchStalls(db: Kysely<unknown>, restarting: AbortController): Promise<void> {
    const stalled = this.set.lanes.filter((lane) => lane.stalled !== undefined);
    if (stalled.length === 0 || restarting.signal.aborted) return;
    try {
      for (const lane of stalled) {
        const checkpoint = await readCheckpoint(db, this.schema, lane.fold.name);
        if (checkpoint.status !== 'stalled') {
          restarting.abort();
          return;
        }
      }
    } catch {
      // The session's own next call meets the same fault and restarts it.
    }
  }

  private wakeWaiters(): void {
    for (const check of [...this.waiters]) check();
  }
}

/**
 * Creates the checkpoint tables and every projection's checkpoint row and tables in `schema`
 * (idempotent, serialised across processes). Tables that had to be created although their
 * checkpoint is past 0 were dropped by someone: that checkpoint starts over from 0.
 */
export async function setUpProjections(
  db: Kysely<unknown>,
  schema: string,
  folds: readonly ProjectionFold<AnyTables>[],
): Promise<void> {
  await migrateCheckpointTables(db, schema);
  await db.transaction().execute(async (trx) => {
    await lockSetup(trx, schema);
    for (const fold of folds) {
      await createCheckpointRow(trx, schema, fold.name, fold.version);
      const { created } = await createReadModelTables(trx, schema, fold);
      if (created && (await readCheckpoint(trx, schema, fold.name)).position > 0) {
        await resetCheckpoint(trx, schema, fold.name, fold.version);
      }
    }
  });
}

/** PGlite reports a wasm build in `version()`; it has one connection, owned by this process. */
async function detectLockMode(db: Kysely<unknown>): Promise<'advisory' | 'in-process'> {
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

/** Resolves when `signal` aborts. */
function untilAborted(signal: AbortSignal): Promise<void> {
  if (signal.aborted) return Promise.resolve();
  return new Promise((resolve) =>
    signal.addEventListener('abort', () => resolve(), { once: true }),
  );
}
