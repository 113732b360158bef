import { sql, type Kysely } from 'kysely';
import { projections } from '../../projections/index.ts';
import type { ProjectionFold } from '../../projections/projection.ts';
import { LedgerError } from '../errors.ts';
import type { Logger } from '../logger.ts';
import type { EventStore, Position } from '../store/port.ts';
import { readCheckpoints, type CheckpointRow } from './checkpoints.ts';
import {
  ProjectionEngine,
  setUpProjections,
  type ProjectionEngineStatus,
} from './projection-engine.ts';
import { readModelTableName, type AnyTables } from './read-model-tables.ts';

/** Every projection the ledger serves, by name. */
export const pureProjections: readonly ProjectionFold<AnyTables>[] =
  projections as unknown as readonly ProjectionFold<AnyTables>[];

/** The projection called `name`, or PROJECTION_NOT_FOUND listing the known ones. */
export function projectionNamed(
  name: string,
  folds: readonly ProjectionFold<AnyTables>[] = pureProjections,
): ProjectionFold<AnyTables> {
  const found = folds.find((p) => p.name === name);
  if (found === undefined) {
    throw new LedgerError('PROJECTION_NOT_FOUND', `No projection ${JSON.stringify(name)}.`, {
      projection: name,
      known: folds.map((p) => p.name),
    });
  }
  return found;
}

export interface ReadModelsOptions {
  store: EventStore;
  /** Where the read models live: PostgreSQL, or the store's own PGlite. */
  db: Kysely<unknown>;
  schema: string;
  /** Closes `db` when it is the read models' own pool; absent when it is shared. */
  closeDb?: () => Promise<void>;
  logger?: Logger;
  /** The projections; default every one the ledger serves. */
  folds?: readonly ProjectionFold<AnyTables>[];
  /**
   * Run the projections in this process (default), or only read what a projector elsewhere
   * (`ledger projector`, or another `ledger serve`) writes.
   */
  runProjections?: boolean;
  /** Events per batch. Default 500. */
  batchSize?: number;
  /** How often the checkpoints are read for the status, and a standby tries the lock. Default 1 s. */
  watchMs?: number;
  /** How often a read-your-writes wait reads the checkpoints when another process projects. Default 10 ms. */
  pollMs?: number;
}

/**
 * The read models of a process: the {@link ProjectionEngine} that writes them (unless
 * `runProjections` is false), the status of every projection, and read-your-writes waits. A wait
 * is answered by the engine when this process holds the projector lock, else by the checkpoints
 * in the database, so it works whichever process projects.
 *
 * @example
 * const readModels = new ReadModels({ store, db, schema: 'ledger_read_models' });
 * await readModels.start();
 * await readModels.waitFor('mission_state', position, 5_000);
 */
export class ReadModels {
  readonly db: Kysely<unknown>;
  readonly schema: string;
  readonly folds: readonly ProjectionFold<AnyTables>[];
  private readonly options: ReadModelsOptions;
  private readonly engine: ProjectionEngine | undefined;
  private watch: NodeJS.Timeout | undefined;
  private started = false;
  /** The checkpoints as last read, for the status of projections another process runs. */
  private checkpoints = new Map<string, CheckpointRow>();
  /** Stalled projections already logged. */
  private readonly reported = new Set<string>();

  constructor(options: ReadModelsOptions) {
    this.options = options;
    this.db = options.db;
    this.schema = options.schema;
    this.folds = options.folds ?? pureProjections;
    this.engine =
      options.runProjections === false
        ? undefined
        : new ProjectionEngine({
            store: options.store,
            db: options.db,
            schema: options.schema,
            folds: this.folds,
            batchSize: options.batchSize ?? 500,
            lockPollMs: options.watchMs ?? 1_000,
          });
  }

  /** True when this process runs the projections (as the leader or a standby). */
  get runsProjections(): boolean {
    return this.engine !== undefined;
  }

  /** Sets up the tables and starts the engine (catch-up runs in the background). */
  async start(): Promise<void> {
    if (this.started) return;
    this.started = true;
    if (this.engine === undefined) await setUpProjections(this.db, this.schema, this.folds);
    else await this.engine.start();
    await this.readCheckpoints();
    this.watch = setInterval(() => void this.watchCheckpoints(), this.options.watchMs ?? 1_000);
    this.watch.unref();
  }

  /** Stops the engine (it finishes its batch), then closes the read models' own pool. */
  async stop(): Promise<void> {
    clearInterval(this.watch);
    await this.engine?.stop();
    if (this.started) await this.options.closeDb?.();
    this.started = false;
  }

  /** Each projection's status: the engine's while it leads, else the checkpoints last read. */
  status(): ProjectionEngineStatus[] {
    if (this.engine?.isActive === true) return this.engine.status();
    return this.folds.map((fold) => {
      const c = this.checkpoints.get(fold.name);
      return {
        name: fold.name,
        position: c?.position ?? 0,
        status: c?.status ?? 'stopped',
        error: c?.error ?? null,
        active: false,
      };
    });
  }

  /**
   * {@link status}, with the checkpoints read now when another process writes them (for
   * `GET /v1/projections`; `readyz` takes the cached one, so a slow database cannot hold it).
   */
  async freshStatus(): Promise<ProjectionEngineStatus[]> {
    if (this.engine?.isActive !== true) await this.readCheckpoints();
    return this.status();
  }

  /**
   * Waits, at most `timeoutMs`, until projection `name` has applied `position`. Fails with
   * PROJECTION_STALLED or PROJECTION_LAGGING (naming where it is) instead of serving a read that
   * misses the caller's write.
   */
  async waitFor(name: string, position: Position, timeoutMs: number): Promise<void> {
    projectionNamed(name, this.folds);
    const started = performance.now();
    let reached: CheckpointRow | undefined;
    const deadline = started + timeoutMs;
    for (;;) {
      const left = deadline - performance.now();
      if (this.engine?.isActive === true) {
        if (await this.engine.waitFor(name, position, Math.max(0, left))) return;
        if (this.engine.isActive || performance.now() >= deadline) break;
        continue; // it lost the lock meanwhile: read the checkpoints
      }
      reached = (await readCheckpoints(this.db, this.schema, [name])).get(name);
      if (reached !== undefined && reached.position >= position) return;
      if (reached?.status === 'stalled' || left <= 0) break;
      await new Promise((resolve) =>
        setTimeout(resolve, Math.min(left, this.options.pollMs ?? 10)),
      );
    }
    const status =
      this.engine?.isActive === true
        ? this.engine.status().find((s) => s.name === name)!
        : (reached ?? (await readCheckpoints(this.db, this.schema, [name])).get(name));
    const details = {
      projection: name,
      position: status?.position ?? 0,
      min_position: position,
      waited_ms: Math.round(performance.now() - started),
    };
    if (status?.status === 'stalled') {
      throw new LedgerError(
        'PROJECTION_STALLED',
        `Projection ${name} is stalled at position ${details.position}: ${status.error ?? ''}`,
        { ...details, error: status.error },
      );
    }
    throw new LedgerError(
      'PROJECTION_LAGGING',
      `Projection ${name} reached position ${details.position}, not ${position}, in ${timeoutMs} ms.`,
      details,
    );
  }

  /** The schema-qualified SQL table of `table` of projection `name`, for queries. */
  table(name: string, table: string) {
    projectionNamed(name, this.folds); // an unknown projection fails here, not in SQL
    return sql.id(this.schema, readModelTableName(name, table));
  }

  private async readCheckpoints(): Promise<void> {
    this.checkpoints = await readCheckpoints(
      this.db,
      this.schema,
      this.folds.map((fold) => fold.name),
    );
  }

  /** Refreshes the checkpoints and logs each projection that stalled, once per stall. */
  private async watchCheckpoints(): Promise<void> {
    try {
      await this.readCheckpoints();
    } catch (error) {
      this.options.logger?.warn({ err: error }, 'reading the projection checkpoints failed');
      return;
    }
    for (const status of this.status()) {
      if (status.status !== 'stalled') {
        this.reported.delete(status.name);
        continue;
      }
      if (this.reported.has(status.name)) continue;
      this.reported.add(status.name);
      this.options.logger?.error(
        { projection: status.name, position: status.position, error: status.error },
        'projection stalled: reads of it wait or answer PROJECTION_STALLED until it is rebuilt or retried',
      );
    }
  }
}
