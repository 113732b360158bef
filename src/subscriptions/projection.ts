import type { Kysely, RawBuilder, Transaction } from 'kysely';
import type { StoredEvent } from '../store/port.ts';

/**
 * A read model fed by a {@link ProjectionRunner}. Its tables live in the PostgreSQL (or PGlite)
 * schema the runner is given; `DB` is the kysely `Database` interface of those tables.
 *
 * The runner guarantees that `apply` sees every event the projection handles exactly once, in
 * global order, and that a batch's writes commit together with the checkpoint that covers it.
 *
 * @example
 * const counts: Projection<CountTables> = {
 *   name: 'stream-counts',
 *   handles: (type) => type.startsWith('mission.'),
 *   async setup(db, schema) {
 *     await db.schema.withSchema(schema).createTable('stream_counts').ifNotExists()
 *       .addColumn('stream', 'text', (c) => c.primaryKey())
 *       .addColumn('count', 'int8', (c) => c.notNull()).execute();
 *   },
 *   async apply(trx, events, schema) { ... upsert one row per stream ... },
 * };
 */
export interface Projection<DB = unknown> {
  /** Unique among the projections sharing a read-model schema; keys the checkpoint and the lock. */
  readonly name: string;
  /**
   * Bumped when the tables' rows change meaning. Tables built by another version are not
   * continued: the runner stalls the projection, naming both versions, until a rebuild
   * (`ledger projections rebuild NAME`) replaces them. Absent: 0.
   */
  readonly version?: number;
  /**
   * The event types it reads. Events it does not handle still advance its checkpoint but are not
   * passed to `apply`. Absent: every event.
   */
  handles?(type: string): boolean;
  /**
   * Creates its tables in `schema`. Must be idempotent (`if not exists`): it runs on every start,
   * inside a transaction the runner serialises across processes. Returns true when it had to
   * create them empty although they should have existed (someone dropped them): the runner then
   * rebuilds from position 0 instead of continuing on empty tables.
   */
  setup(db: Kysely<DB>, schema: string): Promise<boolean | void>;
  /**
   * Applies one batch (non-empty, in position order) inside the runner's transaction. Must write
   * only through `trx`: anything else would not roll back with the batch. Throwing rolls the
   * batch back; the runner retries it, then isolates and parks the failing event.
   */
  apply(trx: Transaction<DB>, events: readonly StoredEvent[], schema: string): Promise<void>;
  /**
   * Optional, used instead of `apply` when present: folds one batch without writing anything (it
   * may read its tables through `db`) and returns the batch's writes as data-modifying statements,
   * each of which must take effect only where `gate` holds. The runner sends them, with the
   * checkpoint move that decides `gate`, as one statement: a batch then costs one round trip and
   * one implicit transaction instead of a transaction of several statements, with the same
   * guarantee (the statement commits whole or not at all; a checkpoint that did not move writes
   * nothing). Between this call and the statement nobody else writes the tables: the runner holds
   * the projection's lock, and a swap by a rebuild moves the generation, so the gate fails.
   */
  prepare?(
    db: Kysely<DB>,
    events: readonly StoredEvent[],
    schema: string,
  ): Promise<(gate: RawBuilder<unknown>) => RawBuilder<unknown>[]>;
  /**
   * Optional: called after a batch transaction committed (whether or not it called `apply`), so
   * a projection can fold what it staged during `apply` into in-memory state. Must not throw.
   */
  committed?(): void;
  /**
   * Optional: called after a batch transaction failed (rolled back, or a COMMIT whose outcome is
   * unknown), and when the runner restarts its session after a fault (another runner may have
   * applied batches meanwhile). Drop staged state; treat caches of the tables as stale. Must not
   * throw.
   */
  rolledBack?(): void;
}
