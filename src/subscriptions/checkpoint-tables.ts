import { sql, type Kysely } from 'kysely';
import type { Position, StoredEvent } from '../store/port.ts';

/** A projection's lifecycle state as recorded in `projection_checkpoints.status`. */
export type ProjectionStatus = 'running' | 'stalled' | 'stopped';

/** One row of `<schema>.projection_checkpoints`. */
export interface CheckpointRow {
  name: string;
  position: Position;
  status: ProjectionStatus;
  error: string | null;
}

const table = (schema: string, name: string) => sql.table(`${schema}.${name}`);

/**
 * Creates the runner's own tables in `schema` (idempotent) and the projection's checkpoint row at
 * position 0. Callers serialise it with a transaction-level advisory lock, because concurrent
 * `create ... if not exists` statements race in PostgreSQL.
 */
export async function createCheckpointTables<DB>(
  db: Kysely<DB>,
  schema: string,
  name: string,
): Promise<void> {
  await sql`create schema if not exists ${sql.id(schema)}`.execute(db);
  await sql`
    create table if not exists ${table(schema, 'projection_checkpoints')} (
      name text primary key,
      position int8 not null,
      status text not null check (status in ('running', 'stalled', 'stopped')),
      error text null,
      updated_at timestamptz not null default now()
    )`.execute(db);
  await sql`
    create table if not exists ${table(schema, 'projection_parked')} (
      name text not null,
      position int8 not null,
      event json not null,
      error text not null,
      attempts int4 not null,
      parked_at timestamptz not null default now(),
      primary key (name, position)
    )`.execute(db);
  await sql`
    insert into ${table(schema, 'projection_checkpoints')} (name, position, status)
    values (${name}, 0, 'stopped')
    on conflict (name) do nothing`.execute(db);
}

/** The projection's checkpoint row; it exists once {@link createCheckpointTables} ran. */
export async function readCheckpoint<DB>(
  db: Kysely<DB>,
  schema: string,
  name: string,
): Promise<CheckpointRow> {
  const { rows } = await sql<{
    name: string;
    position: string | number;
    status: ProjectionStatus;
    error: string | null;
  }>`select name, position, status, error from ${table(schema, 'projection_checkpoints')}
      where name = ${name}`.execute(db);
  const row = rows[0];
  if (row === undefined) throw new Error(`No checkpoint row for projection ${name}.`);
  return { ...row, position: Number(row.position) };
}

/**
 * Moves the checkpoint from `from` to `to` (compare-and-set) and marks it running. Returns false
 * when the row was not at `from`: someone else advanced it, so this runner no longer owns it.
 * The update also row-locks the checkpoint until the transaction ends, serialising writers.
 */
export async function advanceCheckpoint<DB>(
  db: Kysely<DB>,
  schema: string,
  name: string,
  from: Position,
  to: Position,
): Promise<boolean> {
  const result = await sql`
    update ${table(schema, 'projection_checkpoints')}
       set position = ${to}, status = 'running', error = null, updated_at = now()
     where name = ${name} and position = ${from}`.execute(db);
  return Number(result.numAffectedRows ?? 0) === 1;
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
