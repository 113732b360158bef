import { sql, type Kysely } from 'kysely';
import { projections } from '../../projections/index.ts';
import type { Projection as PureProjection } from '../../projections/projection.ts';
import { LedgerError } from '../errors.ts';
import type { Logger } from '../logger.ts';
import type { EventStore, Position } from '../store/port.ts';
import { readCheckpoint } from '../subscriptions/checkpoint-tables.ts';
import {
  ProjectionRunner,
  type ProjectionRunnerStatus,
} from '../subscriptions/projection-runner.ts';
import { readModelTableName, type AnyTables } from './read-model-tables.ts';
import { sqlReadModel } from './sql-read-model.ts';

/** Every projection the ledger serves, by name. */
export const pureProjections: readonly PureProjection<AnyTables>[] =
  projections as unknown as readonly PureProjection<AnyTables>[];

/** The pure projection called `name`, or PROJECTION_NOT_FOUND listing the known ones. */
export function projectionNamed(name: string): PureProjection<AnyTables> {
  const found = pureProjections.find((p) => p.name === name);
  if (found === undefined) {
    throw new LedgerError('PROJECTION_NOT_FOUND', `No projection ${JSON.stringify(name)}.`, {
      projection: name,
      known: pureProjections.map((p) => p.name),
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
  /** Events per batch. Default 500. */
  batchSize?: number;
  /** How often stalled projections are checked for a rebuild or retry elsewhere. Default 2 s. */
  watchMs?: number;
}

/**
 * The read models of a serving process: one {@link ProjectionRunner} per projection, each over a
 * {@link sqlReadModel}. It resumes a projection whose stall was cleared elsewhere (a blue/green
 * rebuild or `retryStalled` by another process), and answers read-your-writes waits.
 *
 * @example
 * const readModels = new ReadModels({ store, db, schema: 'ledger_read_models' });
 * await readModels.start();
 * await readModels.waitFor('mission_state', position, 5_000);
 */
export class ReadModels {
  readonly db: Kysely<unknown>;
  readonly schema: string;
  private readonly options: ReadModelsOptions;
  private readonly runners = new Map<string, ProjectionRunner<unknown>>();
  private watch: NodeJS.Timeout | undefined;
  private started = false;
  /** Stalled projections already logged. */
  private readonly reported = new Set<string>();

  constructor(options: ReadModelsOptions) {
    this.options = options;
    this.db = options.db;
    this.schema = options.schema;
  }

  /** Sets up every projection's tables and starts its runner (catch-up runs in the background). */
  async start(): Promise<void> {
    if (this.started) return;
    this.started = true;
    for (const pure of pureProjections) {
      const runner = this.newRunner(pure);
      this.runners.set(pure.name, runner);
      await runner.start();
    }
    this.watch = setInterval(() => void this.resumeCleared(), this.options.watchMs ?? 2_000);
    this.watch.unref();
  }

  /** Stops every runner (each finishes its batch), then closes the read models' own pool. */
  async stop(): Promise<void> {
    clearInterval(this.watch);
    await Promise.all([...this.runners.values()].map((runner) => runner.stop()));
    this.runners.clear();
    if (this.started) await this.options.closeDb?.();
    this.started = false;
  }

  /** Each projection's runner status, in serving order. */
  status(): ProjectionRunnerStatus[] {
    return [...this.runners.values()].map((runner) => runner.status());
  }

  /**
   * Waits, at most `timeoutMs`, until projection `name` has applied `position`. Fails with
   * PROJECTION_STALLED or PROJECTION_LAGGING (naming where it is) instead of serving a read that
   * misses the caller's write.
   */
  async waitFor(name: string, position: Position, timeoutMs: number): Promise<void> {
    const runner = this.runner(name);
    const started = performance.now();
    if (await runner.waitFor(position, timeoutMs)) return;
    const status = runner.status();
    const details = {
      projection: name,
      position: status.position,
      min_position: position,
      waited_ms: Math.round(performance.now() - started),
    };
    if (status.status === 'stalled') {
      throw new LedgerError(
        'PROJECTION_STALLED',
        `Projection ${name} is stalled at position ${status.position}: ${status.error ?? ''}`,
        { ...details, error: status.error },
      );
    }
    throw new LedgerError(
      'PROJECTION_LAGGING',
      `Projection ${name} reached position ${status.position}, not ${position}, in ${timeoutMs} ms.`,
      details,
    );
  }

  /** The schema-qualified SQL table of `table` of projection `name`, for queries. */
  table(name: string, table: string) {
    this.runner(name); // an unknown projection fails here, not as a missing relation in SQL
    return sql.id(this.schema, readModelTableName(name, table));
  }

  private runner(name: string): ProjectionRunner<unknown> {
    const runner = this.runners.get(name);
    if (runner === undefined) {
      projectionNamed(name); // unknown name: PROJECTION_NOT_FOUND
      throw new LedgerError('PROJECTION_STALLED', `Projection ${name} is not running.`, {
        projection: name,
      });
    }
    return runner;
  }

  private newRunner(pure: PureProjection<AnyTables>): ProjectionRunner<unknown> {
    return new ProjectionRunner<unknown>({
      store: this.options.store,
      db: this.db,
      schema: this.schema,
      projection: sqlReadModel(pure),
      batchSize: this.options.batchSize ?? 500,
    });
  }

  /**
   * Logs each projection that stalled (once per stall), and restarts, with a fresh cache, each
   * stalled runner whose checkpoint is no longer stalled (a rebuild or a retry elsewhere).
   */
  private async resumeCleared(): Promise<void> {
    for (const pure of pureProjections) {
      const runner = this.runners.get(pure.name);
      if (runner === undefined) continue;
      const status = runner.status();
      if (status.status !== 'stalled') {
        this.reported.delete(pure.name);
        continue;
      }
      if (!this.reported.has(pure.name)) {
        this.reported.add(pure.name);
        this.options.logger?.error(
          { projection: pure.name, position: status.position, error: status.error },
          'projection stalled: reads of it wait or answer PROJECTION_STALLED until it is rebuilt or retried',
        );
      }
      try {
        const checkpoint = await readCheckpoint(this.db, this.schema, pure.name);
        if (checkpoint.status === 'stalled' || !this.started) continue;
        await runner.stop();
        const fresh = this.newRunner(pure);
        this.runners.set(pure.name, fresh);
        await fresh.start();
        this.options.logger?.info(
          { projection: pure.name, position: checkpoint.position },
          'projection resumed: its stall was cleared',
        );
      } catch (error) {
        this.options.logger?.warn({ err: error, projection: pure.name }, 'resume check failed');
      }
    }
  }
}
