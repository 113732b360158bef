import type { Kysely } from 'kysely';
import type { ProjectionFold } from '../../projections/projection.ts';
import type { Position, StoredEvent } from '../store/port.ts';
import type { CheckpointMove, CheckpointRow } from './checkpoints.ts';
import type { AnyTables } from './read-model-tables.ts';
import { RowStore, stagedRowWrites, type MissingRow, type StagedRows } from './row-store.ts';

/** One projection of a {@link ProjectionSet}: its rows as the fold sees them and how far it is. */
export interface Lane {
  readonly fold: ProjectionFold<AnyTables>;
  readonly rows: RowStore;
  /** Last event folded into the staged rows (handled or not). */
  position: Position;
  /** Last position committed to the tables, with the checkpoint. */
  committed: Position;
  /** The checkpoint generation the lane's rows belong to (compare-and-set). */
  generation: number;
  /** Fold up to and including this position (`Infinity`: follow the log). */
  until: Position;
  /**
   * The event the fold could not apply, and why. Rows staged before it still commit; the
   * checkpoint then stops before it, marked stalled, and the event is parked.
   */
  failure: { event: StoredEvent; error: string } | undefined;
  /** Stalled in the checkpoint (a committed failure, another version's tables, or found so). */
  stalled: { error: string } | undefined;
  /**
   * Prefetch rows before folding a batch. On while prefetching finds rows no layer holds or the
   * fold misses some; off while neither happens (a rebuild from position 0 creates nearly every
   * row it looks up, so asking the hints about every event costs a few percent for nothing).
   */
  prefetch: boolean;
}

/** What one flush writes for a lane: its sealed rows and its checkpoint move. */
export interface LaneWrite {
  lane: Lane;
  move: CheckpointMove;
  staged: StagedRows;
}

export interface ProjectionSetOptions {
  /** Where the tables are. */
  db: Kysely<unknown>;
  schema: string;
  /** Rows cached per projection between flushes. */
  maxCachedRows: number;
  /** Checkpoint status of a move that does not stall: `running` live, `stopped` for a catch-up. */
  status: 'running' | 'stopped';
}

/**
 * The read side's one engine: folds pages of the log into every projection it holds, and seals
 * their row changes with their checkpoint moves for one flush. Live serving
 * ({@link ProjectionEngine}), `ledger replay --verify` and `ledger projections rebuild`
 * ({@link catchUpProjections}) all run their projections through it; they differ only in where
 * the events come from, when they flush, and how the flush is sent.
 *
 * Each event is read once and offered to every lane that has not passed it; each lane stages its
 * rows in its own {@link RowStore}. A fold that throws (a malformed event) fails its lane alone:
 * its rows before the event commit, its checkpoint stops there, stalled, and the other lanes go
 * on. The caller must be the only writer of the tables meanwhile (it holds the projector lock, or
 * the schema is its scratch copy): the row caches rely on it.
 */
export class ProjectionSet {
  readonly lanes: readonly Lane[];
  private readonly options: ProjectionSetOptions;

  constructor(folds: readonly ProjectionFold<AnyTables>[], options: ProjectionSetOptions) {
    this.options = options;
    this.lanes = folds.map((fold) => ({
      fold,
      rows: new RowStore(fold, { maxCachedRows: options.maxCachedRows }),
      position: 0,
      committed: 0,
      generation: 0,
      until: Number.POSITIVE_INFINITY,
      failure: undefined,
      stalled: undefined,
      prefetch: true,
    }));
  }

  /** The lane of projection `name`. */
  lane(name: string): Lane | undefined {
    return this.lanes.find((lane) => lane.fold.name === name);
  }

  /**
   * Points a lane at its checkpoint and forgets its cached rows (another writer may have changed
   * them). A stalled checkpoint stalls the lane.
   */
  resetTo(lane: Lane, checkpoint: CheckpointRow, until = Number.POSITIVE_INFINITY): void {
    lane.rows.rolledBack();
    lane.position = checkpoint.position;
    lane.committed = checkpoint.position;
    lane.generation = checkpoint.generation;
    lane.until = until;
    lane.failure = undefined;
    lane.stalled =
      checkpoint.status === 'stalled' ? { error: checkpoint.error ?? 'stalled' } : undefined;
    lane.prefetch = true;
  }

  /** Lanes that still fold: not stalled, not failed, short of their `until`. */
  running(): Lane[] {
    return this.lanes.filter(
      (lane) =>
        lane.stalled === undefined && lane.failure === undefined && lane.position < lane.until,
    );
  }

  /** Rows staged over every lane. */
  get stagedCount(): number {
    let staged = 0;
    for (const lane of this.lanes) staged += lane.rows.stagedCount;
    return staged;
  }

  /**
   * Folds `events` (consecutive, in position order) into `lanes` (default: every running one).
   * Rows a lane needs and does not hold are fetched; only a failed fetch throws.
   */
  async fold(events: StoredEvent[], lanes: readonly Lane[] = this.running()): Promise<void> {
    const { db, schema } = this.options;
    const folding = lanes.filter(
      (lane) => lane.stalled === undefined && lane.failure === undefined,
    );
    for (const lane of folding) {
      // Loaded lazily: only the owner of the tables may note which are empty.
      if (!lane.rows.isLoaded) await lane.rows.load(db, schema);
      if (!lane.prefetch) continue;
      const wanted = lane.rows.wanted(
        events.filter((e) => e.position > lane.position && e.position <= lane.until),
      );
      lane.prefetch = wanted.size > 0;
      for (const [table, keys] of wanted) await lane.rows.fetch(db, schema, table, keys);
    }
    for (const event of events) {
      for (const lane of folding) {
        if (lane.failure !== undefined) continue;
        if (event.position <= lane.position || event.position > lane.until) continue;
        if (lane.fold.handles(event.type)) {
          let missing = this.stage(lane, event);
          while (missing !== undefined && missing !== FAILED) {
            lane.prefetch = true;
            await lane.rows.fetch(db, schema, missing.table, [missing.key]);
            missing = this.stage(lane, event);
          }
          if (missing === FAILED) continue;
        }
        lane.position = event.position;
      }
    }
  }

  /**
   * Moves running lanes that have nothing between their position and `position` (the end of the
   * log was reached) up to it, bounded by their `until`.
   */
  reached(position: Position): void {
    for (const lane of this.running()) {
      lane.position = Math.min(lane.until, Math.max(lane.position, position));
    }
  }

  /**
   * Seals what `lanes` folded since their last flush into writes: each lane whose position moved,
   * that staged rows, or that failed. Each sealed lane must then be {@link committed} or
   * {@link rolledBack}.
   */
  seal(lanes: readonly Lane[] = this.lanes, attempts = 1): LaneWrite[] {
    const { schema, status } = this.options;
    const writes: LaneWrite[] = [];
    for (const lane of lanes) {
      if (lane.stalled !== undefined) continue;
      const failed = lane.failure !== undefined;
      if (lane.position === lane.committed && lane.rows.stagedCount === 0 && !failed) continue;
      const staged = lane.rows.seal();
      const names = lane.rows.names;
      writes.push({
        lane,
        staged,
        move: {
          name: lane.fold.name,
          from: { position: lane.committed, generation: lane.generation },
          to: lane.position,
          status,
          ...(lane.failure === undefined
            ? {}
            : {
                stall: {
                  event: lane.failure.event,
                  error: `${lane.failure.error} (position ${lane.failure.event.position})`,
                  attempts,
                },
              }),
          writes: (gate) => stagedRowWrites(schema, names, staged, gate),
        },
      });
    }
    return writes;
  }

  /** The write committed: its rows count as cached, and a failure became the lane's stall. */
  committed(write: LaneWrite): void {
    const { lane, move } = write;
    lane.rows.committed();
    lane.committed = move.to;
    if (move.stall !== undefined) {
      lane.stalled = { error: move.stall.error };
      lane.failure = undefined;
    }
  }

  /**
   * The write failed, or its outcome is unknown: the lane forgets its rows and folds again from
   * its committed position (a failure is found again: folds are pure).
   */
  rolledBack(write: LaneWrite): void {
    this.rewind(write.lane);
  }

  /** Drops what a lane staged and cached; it folds again from its committed position. */
  rewind(lane: Lane): void {
    lane.rows.rolledBack();
    lane.position = lane.committed;
    lane.failure = undefined;
    lane.prefetch = true;
  }

  /** Stages `event` into the lane, or records why the fold cannot apply it (then FAILED). */
  private stage(lane: Lane, event: StoredEvent): MissingRow | typeof FAILED | undefined {
    try {
      return lane.rows.stage(event);
    } catch (error) {
      lane.failure = { event, error: error instanceof Error ? error.message : String(error) };
      return FAILED;
    }
  }
}

const FAILED = Symbol('failed');
