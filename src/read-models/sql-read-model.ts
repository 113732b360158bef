import { sql, type Kysely, type Transaction } from 'kysely';
import {
  snapshot,
  type Lookup,
  type Projection as PureProjection,
  type ReadModel,
} from '../../projections/projection.ts';
import { jsonDigest } from '../audit/canonical-json.ts';
import { LedgerError } from '../errors.ts';
import type { StoredEvent } from '../store/port.ts';
import { assertSchemaName } from '../store/sql/migrations.ts';
import type { Projection } from '../subscriptions/projection.ts';

/** Projection and table names: lower-case SQL identifiers, no quoting surprises. */
const SAFE_NAME = /^[a-z_][a-z0-9_]*$/;
/** PostgreSQL silently truncates longer identifiers, which could make two tables one. */
const MAX_IDENTIFIER_BYTES = 63;

/** A read model as {@link snapshot} gives it: tables by name, rows in key order, empty ones left out. */
export type ReadModelSnapshot = Record<string, unknown[]>;

/** The runner-facing projection {@link sqlReadModel} returns, plus a view of its mirror. */
export interface SqlReadModel extends Projection {
  /** The pure projection it runs. */
  readonly pure: PureProjection<AnyTables>;
  /**
   * The committed in-memory mirror as a snapshot; `undefined` while it is not loaded (before the
   * first batch, and after a failed one until the next batch reloads it). For tests.
   */
  mirrorSnapshot(): ReadModelSnapshot | undefined;
}

/** The SQL table holding `table` of the pure projection `projection`: `<projection>__<table>`. */
export function readModelTableName(projection: string, table: string): string {
  for (const name of [projection, table]) {
    if (!SAFE_NAME.test(name)) {
      throw new LedgerError(
        'CONFIGURATION_INVALID',
        `Read-model name ${JSON.stringify(name)} must match ${SAFE_NAME}.`,
      );
    }
  }
  const name = `${projection}__${table}`;
  if (Buffer.byteLength(name) > MAX_IDENTIFIER_BYTES) {
    throw new LedgerError(
      'CONFIGURATION_INVALID',
      `Read-model table ${name} is longer than ${MAX_IDENTIFIER_BYTES} bytes.`,
    );
  }
  return name;
}

function tableNames(pure: PureProjection<AnyTables>): Map<string, string> {
  const names = new Map<string, string>();
  for (const table of Object.keys(pure.tables)) {
    names.set(table, readModelTableName(pure.name, table));
  }
  return names;
}

type AnyTables = Record<string, unknown>;
type Rows = Map<string, unknown>;
/** Staged changes of one table: key -> new row, `null` for a delete. */
type Staged = Map<string, unknown>;

/**
 * Runs a pure projection (`apply(event, lookup) -> RowChange[]`, see projections/README.md) under a
 * {@link ProjectionRunner}: each of its tables is stored as
 * `<schema>."<projection>__<table>"(key text primary key, row jsonb not null)`.
 *
 * The pure `lookup` is synchronous, so the adapter keeps an in-memory mirror of its tables. The
 * mirror is (re)loaded from the database inside the first batch transaction after `setup` and
 * after any failed batch — after the checkpoint row is locked, so it holds everything any runner
 * committed before. A batch's changes are staged in an overlay (which `lookup` reads first), and
 * written with one bulk upsert and one bulk delete per table, each key once with its final value.
 * The overlay is folded into the mirror only on `committed`; `rolledBack` drops it and marks the
 * mirror stale.
 *
 * One adapter instance serves one runner. Rows go through JSON (`jsonb`): they must be JSON values.
 *
 * @example
 * const runner = new ProjectionRunner({ store, db, schema: 'read_models',
 *   projection: sqlReadModel(missionStateProjection) });
 */
export function sqlReadModel<Tables>(projection: PureProjection<Tables>): SqlReadModel {
  const pure = projection as unknown as PureProjection<AnyTables>;
  const names = tableNames(pure);
  let mirror: Map<string, Rows> | undefined;
  let overlay: Map<string, Staged> | undefined;

  const lookup = ((table: string, key: string) => {
    const staged = overlay?.get(table);
    if (staged?.has(key) === true) return staged.get(key) ?? undefined;
    return mirror?.get(table)?.get(key);
  }) as Lookup<AnyTables>;

  return {
    name: pure.name,
    pure,
    handles: (type) => pure.handles(type),

    async setup(db: Kysely<unknown>, schema: string) {
      assertSchemaName(schema);
      await sql`create schema if not exists ${sql.id(schema)}`.execute(db);
      for (const name of names.values()) {
        await sql`create table if not exists ${sql.id(schema, name)} (
                    key text primary key,
                    row jsonb not null
                  )`.execute(db);
      }
      // Loaded lazily in the first batch: a standby's mirror would be stale by then.
      mirror = undefined;
      overlay = undefined;
    },

    async apply(trx: Transaction<unknown>, events: readonly StoredEvent[], schema: string) {
      // A previous batch neither committed nor rolled back as far as we were told: unknown state.
      if (overlay !== undefined) mirror = undefined;
      overlay = undefined;
      if (mirror === undefined) mirror = await loadTables(trx, schema, names);
      const staged = new Map<string, Staged>();
      overlay = staged;
      for (const event of events) {
        if (!pure.handles(event.type)) continue;
        for (const change of pure.apply(event, lookup)) {
          if (!names.has(change.table)) {
            throw new LedgerError(
              'CONFIGURATION_INVALID',
              `Projection ${pure.name} changed unknown table ${change.table}.`,
            );
          }
          let rows = staged.get(change.table);
          if (rows === undefined) staged.set(change.table, (rows = new Map<string, unknown>()));
          rows.set(change.key, change.row);
        }
      }
      // Write each table's final values, and keep their JSON form for the mirror so it always
      // holds exactly what a reload from the database would give.
      for (const [table, rows] of staged) {
        const upserts: { key: string; row: unknown }[] = [];
        const deletes: string[] = [];
        for (const [key, row] of rows) {
          if (row === null) deletes.push(key);
          else upserts.push({ key, row });
        }
        const target = sql.id(schema, names.get(table)!);
        if (upserts.length > 0) {
          const payload = JSON.stringify(upserts);
          await sql`insert into ${target} (key, row)
                    select e.key, e.row
                      from jsonb_to_recordset(${payload}::jsonb) as e(key text, row jsonb)
                    on conflict (key) do update set row = excluded.row`.execute(trx);
          for (const { key, row } of JSON.parse(payload) as { key: string; row: unknown }[]) {
            rows.set(key, row);
          }
        }
        if (deletes.length > 0) {
          await sql`delete from ${target}
                     where key in (select jsonb_array_elements_text(${JSON.stringify(deletes)}::jsonb))`.execute(
            trx,
          );
        }
      }
    },

    committed() {
      const staged = overlay;
      overlay = undefined;
      if (staged === undefined || mirror === undefined) return;
      for (const [table, rows] of staged) {
        let target = mirror.get(table);
        if (target === undefined) mirror.set(table, (target = new Map<string, unknown>()));
        for (const [key, row] of rows) {
          if (row === null) target.delete(key);
          else target.set(key, row);
        }
      }
    },

    rolledBack() {
      overlay = undefined;
      // The batch may have committed after all (a failed COMMIT), or another runner may write
      // next: reload in the next batch.
      mirror = undefined;
    },

    mirrorSnapshot() {
      return mirror === undefined ? undefined : snapshot(mirror);
    },
  };
}

async function loadTables(
  db: Kysely<unknown>,
  schema: string,
  names: ReadonlyMap<string, string>,
): Promise<Map<string, Rows>> {
  const model = new Map<string, Rows>();
  for (const [table, name] of names) {
    const { rows } = await sql<{
      key: string;
      row: unknown;
    }>`select key, row from ${sql.id(schema, name)}`.execute(db);
    model.set(table, new Map(rows.map((r) => [r.key, r.row])));
  }
  return model;
}

/**
 * Reads a pure projection's tables back from `schema` in the shape of the projections'
 * {@link snapshot}: `{ table: rows in key (code-unit) order }`, empty tables left out. Equal to
 * `snapshot(replayProjection(pure, events))` once the runner has applied `events`.
 */
export async function readModelSnapshot<Tables>(
  db: Kysely<unknown>,
  schema: string,
  pure: PureProjection<Tables>,
): Promise<ReadModelSnapshot> {
  assertSchemaName(schema);
  const model: ReadModel = await loadTables(
    db,
    schema,
    tableNames(pure as unknown as PureProjection<AnyTables>),
  );
  return snapshot(model);
}

/** Hex SHA-256 of the RFC 8785 canonical JSON of a snapshot. */
export function digestOf(value: ReadModelSnapshot): string {
  return jsonDigest(value);
}
