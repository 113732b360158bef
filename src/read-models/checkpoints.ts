import { sql, type Kysely, type RawBuilder } from 'kysely';
import type { Position, StoredEvent } from '../store/port.ts';

/** A projection's lifecycle state as recorded in `projection_checkpoints.status`. */
export type ProjectionStatus = 'running' | 'stalled' | 'stopped';

/** One row of `<schema>.projection_checkpoints`. */
export interface CheckpointRow {
  name: string;
  position: Position;
  status: ProjectionStatus;
  error: string | null;
  /**
   * Bumped when the projection's tables are replaced wholesale (a blue/green rebuild swap). A
   * runner's compare-and-set includes it, so a runner that cached the old tables loses ownership
   * instead of writing on top of the new ones with a stale cache.
   */
  generation: number;
  /** The projection version the tables were built by (see `Projection.version`). */
  version: number;
}

const table = (schema: string, name: string) => sql.table(`${schema}.${name}`);

/**
 * Inserts the projection's checkpoint row at position 0 unless it has one. The tables come from
 * `migrateCheckpointTables` (checkpoint-migrations.ts), run before the caller's transaction.
 */
export async function createCheckpointRow<DB>(
  db: Kysely<DB>,
  schema: string,
  name: string,
  version = 0,
): Promise<void> {
  await sql`
    insert into ${table(schema, 'projection_checkpoints')} (name, position, status, version)
    values (${name}, 0, 'stopped', ${version})
    on conflict (name) do nothing`.execute(db);
}

/**
 * Serialises projection setup in `schema` until the transaction ends: concurrent
 * `create ... if not exists` statements race in PostgreSQL.
 */
export async function lockSetup<DB>(trx: Kysely<DB>, schema: string): Promise<void> {
  const key = `mission-ledger:projection-setup:${schema}`;
  await sql`select pg_advisory_xact_lock(hashtextextended(${key}, 0))`.execute(trx);
}

/** The projection's checkpoint row; it exists once {@link createCheckpointRow} ran. */
export async function readCheckpoint<DB>(
  db: Kysely<DB>,
  schema: string,
  name: string,
): Promise<CheckpointRow> {
  const row = (await readCheckpoints(db, schema, [name])).get(name);
  if (row === undefined) throw new Error(`No checkpoint row for projection ${name}.`);
  return row;
}

/**
 * The checkpoints of `names` in `schema`, by name; absent when never built there (no row, or no
 * checkpoint table at all). `forUpdate` row-locks them in name order, which holds their runners
 * before their next batch until the transaction ends.
 */
export async function readCheckpoints<DB>(
  db: Kysely<DB>,
  schema: string,
  names: readonly string[],
  options: { forUpdate?: boolean } = {},
): Promise<Map<string, CheckpointRow>> {
  const out = new Map<string, CheckpointRow>();
  const { rows: found } = await sql<{ ok: boolean }>`
    select to_regclass(${`"${schema}".projection_checkpoints`}) is not null as ok`.execute(db);
  if (found[0]?.ok !== true) return out;
  const { rows } = await sql<{
    name: string;
    position: string | number;
    status: ProjectionStatus;
    error: string | null;
    generation: string | number;
    version: number;
  }>`select name, position, status, error, generation, version
       from ${table(schema, 'projection_checkpoints')}
      where name = any(${names}::text[])
      order by name ${options.forUpdate === true ? sql`for update` : sql``}`.execute(db);
  for (const row of rows) {
    out.set(row.name, {
      ...row,
      position: Number(row.position),
      generation: Number(row.generation),
    });
  }
  return out;
}

/**
 * Moves the checkpoint from `from` to `to` (compare-and-set on position and generation) and marks
 * it running, together with a batch's `writes`, in one statement: the move is a data-modifying CTE
 * and each write is gated on it having moved, so a checkpoint that was not at `from` writes
 * nothing. Returns false when the row was not at `from` in `generation`: someone else advanced it
 * or swapped the tables, so this runner no longer owns it. The update row-locks the checkpoint
 * until the transaction ends, serialising writers.
 *
 * Alone, the statement is its own transaction: one round trip per batch. The transaction (this
 * one, or the caller's) does not wait for the WAL flush (`synchronous_commit = off` for it): a read
 * model is derived data, and a batch lost in a crash rolls back with its checkpoint and is applied
 * again.
 */
export async function advanceCheckpoint<DB>(
  db: Kysely<DB>,
  schema: string,
  name: string,
  from: { position: Position; generation: number },
  to: Position,
  writes: (gate: RawBuilder<unknown>) => RawBuilder<unknown>[] = () => [],
): Promise<boolean> {
  const gate = sql`exists (select from checkpoint)`;
  const ctes = writes(gate).map((write, i) => sql`, ${sql.id(`write_${i}`)} as (${write})`);
  const { rows } = await sql<{ moved: number }>`
    with checkpoint as (
      update ${table(schema, 'projection_checkpoints')}
         set position = ${to}, status = 'running', error = null, updated_at = now()
       where name = ${name} and position = ${from.position}
         and generation = ${from.generation}
      returning 1
    )${sql.join(ctes, sql``)}
    select (select count(*) from checkpoint)::int as moved,
           set_config('synchronous_commit', 'off', true) as synchronous_commit`.execute(db);
  return Number(rows[0]?.moved ?? 0) === 1;
}

/** Sets the status (and error) without moving the position. */
export async function setCheckpointStatus<DB>(
  db: Kysely<DB>,
  schema: string,
  name: string,
  status: ProjectionStatus,
  error: string | null,
): Promise<void> {
  await sql`
    update ${table(schema, 'projection_checkpoints')}
       set status = ${status}, error = ${error}, updated_at = now()
     where name = ${name}`.execute(db);
}

/** Records a poison event; parking it again (after a retried start) adds to its attempts. */
export async function parkEvent<DB>(
  db: Kysely<DB>,
  schema: string,
  name: string,
  event: StoredEvent,
  error: string,
  attempts: number,
): Promise<void> {
  const parked = table(schema, 'projection_parked');
  await sql`
    insert into ${parked} (name, position, event, error, attempts)
    values (${name}, ${event.position}, ${JSON.stringify(event)}::json, ${error}, ${attempts})
    on conflict (name, position) do update
       set error = excluded.error,
           attempts = ${parked}.attempts + excluded.attempts,
           parked_at = now()`.execute(db);
}

/**
 * Points the checkpoint at position 0 of a new generation (the tables were replaced by empty
 * ones): a running owner loses its compare-and-set, and a stalled projection runs again. Parked
 * events of the projection are forgotten: they will be applied again, or parked again.
 */
export async function resetCheckpoint<DB>(
  db: Kysely<DB>,
  schema: string,
  name: string,
  version: number,
): Promise<void> {
  await sql`
    update ${table(schema, 'projection_checkpoints')}
       set position = 0, generation = generation + 1, version = ${version},
           status = case when status = 'stalled' then 'stopped' else status end,
           error = null, updated_at = now()
     where name = ${name}`.execute(db);
  await sql`delete from ${table(schema, 'projection_parked')} where name = ${name}`.execute(db);
}
