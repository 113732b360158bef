import { sql, type Kysely, type RawBuilder } from 'kysely';
import { LedgerError } from '../errors.ts';
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
   * engine's compare-and-set includes it, so an engine that cached the old tables loses ownership
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
 * checkpoint table at all). `forUpdate` row-locks them in name order, which holds the engine writing them
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
 * A projection's checkpoint move in a flush: compare-and-set from `from` (position and
 * generation) to `to`, with `status`, and the row writes that take effect only if it moved.
 * `stall` parks the event the projection could not apply and records why, in the same move.
 */
export interface CheckpointMove {
  name: string;
  from: { position: Position; generation: number };
  to: Position;
  /** `running` for live serving, `stopped` for a catch-up; a `stall` makes it `stalled`. */
  status: 'running' | 'stopped';
  stall?: { event: StoredEvent; error: string; attempts: number };
  /** Row writes, each gated on `gate` (the move happened). */
  writes: (gate: RawBuilder<unknown>) => Iterable<RawBuilder<unknown>>;
}

/**
 * Moves several projections' checkpoints, with their row writes and parked events, in one
 * statement: each move is a data-modifying CTE and each of its writes is gated on it, so a
 * checkpoint that was not at `from` (in its generation) writes nothing, and the others commit.
 * Returns, per move, whether it happened: false means someone else advanced the checkpoint or
 * swapped the tables, and the caller no longer owns that projection's rows.
 *
 * One round trip and one implicit transaction for a whole batch of every projection. The
 * transaction does not wait for the WAL flush (`synchronous_commit = off`): a read model is
 * derived data, and a batch lost in a crash rolls back with its checkpoints and is applied again.
 * Each update row-locks its checkpoint until the statement ends, serialising writers.
 */
export async function moveCheckpoints<DB>(
  db: Kysely<DB>,
  schema: string,
  moves: readonly CheckpointMove[],
): Promise<boolean[]> {
  if (moves.length === 0) return [];
  const checkpoints = table(schema, 'projection_checkpoints');
  const ctes: RawBuilder<unknown>[] = [];
  moves.forEach((move, i) => {
    const moved = sql.id(`moved_${i}`);
    const status = move.stall === undefined ? move.status : 'stalled';
    ctes.push(sql`${moved} as (
      update ${checkpoints}
         set position = ${move.to}, status = ${status}, error = ${move.stall?.error ?? null},
             updated_at = now()
       where name = ${move.name} and position = ${move.from.position}
         and generation = ${move.from.generation}
      returning 1)`);
    const gate = sql`exists (select from ${moved})`;
    let w = 0;
    for (const write of move.writes(gate)) {
      ctes.push(sql`${sql.id(`write_${i}_${w}`)} as (${write})`);
      w += 1;
    }
    if (move.stall !== undefined) {
      ctes.push(
        sql`${sql.id(`parked_${i}`)} as (${parkStatement(schema, move.name, move.stall, gate)})`,
      );
    }
  });
  const counts = moves.map((_, i) => sql`(select count(*) from ${sql.id(`moved_${i}`)})::int`);
  const { rows } = await sql<{ moved: number[] }>`
    with ${sql.join(ctes)}
    select array[${sql.join(counts)}] as moved,
           set_config('synchronous_commit', 'off', true) as synchronous_commit`.execute(db);
  const moved = rows[0]?.moved ?? [];
  return moves.map((_, i) => Number(moved[i] ?? 0) === 1);
}

/**
 * One projection's checkpoint move and row writes as a transaction of several statements, for
 * bulk catch-ups whose writes are too large to build at once: the writes are built one statement
 * at a time. Throws PROJECTION_LAGGING when the checkpoint was not at `from`. The transaction does
 * not wait for the WAL flush: the schema is a scratch copy, rebuilt rather than recovered.
 */
export async function moveCheckpointWithWrites(
  db: Kysely<unknown>,
  schema: string,
  move: CheckpointMove,
): Promise<void> {
  await db.transaction().execute(async (trx) => {
    await sql`set local synchronous_commit = off`.execute(trx);
    const [moved] = await moveCheckpoints(trx, schema, [{ ...move, writes: () => [] }]);
    if (moved !== true) {
      throw new LedgerError(
        'PROJECTION_LAGGING',
        `The checkpoint of ${move.name} in ${schema} moved: another process writes these tables.`,
        { projection: move.name, schema },
      );
    }
    for (const write of move.writes(sql`true`)) await write.execute(trx);
  });
}

/** Marks stalled projections stopped again so the engine retries them (the position stays). */
export async function clearStalls<DB>(
  db: Kysely<DB>,
  schema: string,
  names: readonly string[],
): Promise<void> {
  await sql`
    update ${table(schema, 'projection_checkpoints')}
       set status = 'stopped', error = null, updated_at = now()
     where name = any(${names}::text[]) and status = 'stalled'`.execute(db);
}

/** Records the version of a projection whose checkpoint is still at 0: its empty tables are that version's. */
export async function adoptVersion<DB>(
  db: Kysely<DB>,
  schema: string,
  name: string,
  version: number,
): Promise<void> {
  await sql`
    update ${table(schema, 'projection_checkpoints')}
       set version = ${version}
     where name = ${name} and position = 0`.execute(db);
}

/**
 * The swap of a blue/green rebuild, inside its transaction (which row-locked the checkpoint): the
 * checkpoint moves to the new tables' position in a new generation and the code's version,
 * clearing a stall and the parked events the rebuild got past. Returns the new generation.
 */
export async function swapCheckpoint<DB>(
  trx: Kysely<DB>,
  schema: string,
  name: string,
  position: Position,
  version: number,
): Promise<number> {
  const { rows } = await sql<{ generation: string }>`
    update ${table(schema, 'projection_checkpoints')}
       set position = ${position}, generation = generation + 1, version = ${version},
           status = case when status = 'stalled' then 'stopped' else status end,
           error = null, updated_at = now()
     where name = ${name}
     returning generation::text as generation`.execute(trx);
  await sql`delete from ${table(schema, 'projection_parked')}
             where name = ${name} and position <= ${position}`.execute(trx);
  return Number(rows[0]?.generation);
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

/**
 * Records a poison event, where `gate` holds; parking it again (after a retried start) adds to
 * its attempts.
 */
function parkStatement(
  schema: string,
  name: string,
  stall: { event: StoredEvent; error: string; attempts: number },
  gate: RawBuilder<unknown>,
): RawBuilder<unknown> {
  const parked = table(schema, 'projection_parked');
  return sql`
    insert into ${parked} (name, position, event, error, attempts)
    select ${name}, ${stall.event.position}, ${JSON.stringify(stall.event)}::json, ${stall.error},
           ${stall.attempts}
     where ${gate}
    on conflict (name, position) do update
       set error = excluded.error,
           attempts = ${parked}.attempts + excluded.attempts,
           parked_at = now()`;
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
