import { createHash } from 'node:crypto';
import { sql, type Kysely } from 'kysely';
import { byCodePoint, keyOf, snapshot, type ProjectionFold } from '../../projections/projection.ts';
import { canonicalJson, jsonDigest } from '../audit/canonical-json.ts';
import { assertSchemaName } from '../schema-migrations/schema-name.ts';
import { readModelTables, type AnyTables } from './read-model-tables.ts';
import { decodedKey, parseStoredRow } from './stored-text.ts';

/** A read model as {@link snapshot} gives it: tables by name, rows in key order, empty ones left out. */
export type ReadModelSnapshot = Record<string, unknown[]>;

/** Rows per keyset page when scanning a table. */
const PAGE = 2_000;

/**
 * The rows of a key/jsonb read-model table in stored-key order (`"C"`, byte order), read in keyset
 * pages so a table of any size streams in bounded memory. A missing table scans as empty. `key`
 * is the key as stored and `row` the row decoded (see `stored-text.ts`).
 */
export async function* scanTable(
  db: Kysely<unknown>,
  schema: string,
  name: string,
): AsyncGenerator<{ key: string; row: unknown }> {
  assertSchemaName(schema);
  const { rows: found } = await sql<{ ok: boolean }>`
    select to_regclass(${`"${schema}"."${name}"`}) is not null as ok`.execute(db);
  if (found[0]?.ok !== true) return;
  let after: string | undefined;
  for (;;) {
    const { rows } = await sql<{ key: string; row: string }>`
      select key, row::text as row from ${sql.id(schema, name)}
       ${after === undefined ? sql`` : sql`where key > ${after}`}
       order by key limit ${PAGE}`.execute(db);
    for (const { key, row } of rows) yield { key, row: parseStoredRow(row) };
    if (rows.length < PAGE) return;
    after = rows.at(-1)!.key;
  }
}

/**
 * Reads a pure projection's tables back from `schema` in the shape of the projections'
 * {@link snapshot}. Equal to `snapshot(replayProjection(pure, events))` once the engine applied
 * `events`. Loads everything: for tests and small models; {@link compareReadModels} streams.
 */
export async function readModelSnapshot<Tables>(
  db: Kysely<unknown>,
  schema: string,
  pure: ProjectionFold<Tables>,
): Promise<ReadModelSnapshot> {
  const model = new Map<string, Map<string, unknown>>();
  const any = pure as unknown as ProjectionFold<AnyTables>;
  for (const [table, name] of readModelTables(any)) {
    const rows = new Map<string, unknown>();
    for await (const { key, row } of scanTable(db, schema, name)) {
      // A long key is stored as a digest; the row's own key columns give it back.
      rows.set(decodedKey(key) ?? keyOf(any.tables[table]!, row), row);
    }
    model.set(table, rows);
  }
  return snapshot(model);
}

/** Hex SHA-256 of the RFC 8785 canonical JSON of a snapshot. */
export function digestOf(value: ReadModelSnapshot): string {
  return jsonDigest(value);
}

/** How one row differs between the live table and its rebuild. */
export interface RowDifference {
  key: string;
  /** `missing`: the rebuild has it, live does not; `unexpected`: the reverse; `changed`: both, unequal. */
  kind: 'missing' | 'unexpected' | 'changed';
  /** For `changed`: the top-level columns whose values differ. */
  columns?: string[];
  live?: unknown;
  rebuilt?: unknown;
}

/** One table of a projection compared. */
export interface TableComparison {
  table: string;
  /** `<schema>."<projection>__<table>"` of the live copy. */
  sqlTable: string;
  live: { rows: number; digest: string };
  rebuilt: { rows: number; digest: string };
  identical: boolean;
  /** Every differing row, up to the requested limit. */
  differences: RowDifference[];
  differenceCount: number;
}

/**
 * A running digest of a table: SHA-256 of the canonical JSON of its rows array in key order, so
 * it equals `jsonDigest(rows)` of the same rows in memory.
 */
class RowsDigest {
  private readonly hash = createHash('sha256').update('[');
  rows = 0;

  add(canonical: string): void {
    if (this.rows > 0) this.hash.update(',');
    this.hash.update(canonical);
    this.rows += 1;
  }

  digest(): string {
    return this.hash.update(']').digest('hex');
  }
}

/**
 * Compares every table of `pure` in `liveSchema` with the same table in `rebuiltSchema`, streaming
 * both in key order (a merge join): the digest of each side, and each differing row by key. Rows
 * are equal when their RFC 8785 canonical JSON is.
 */
export async function compareReadModels(
  db: Kysely<unknown>,
  liveSchema: string,
  rebuiltSchema: string,
  pure: ProjectionFold<AnyTables>,
  maxDifferences = 20,
): Promise<TableComparison[]> {
  const out: TableComparison[] = [];
  for (const [table, name] of readModelTables(pure)) {
    const live = scanTable(db, liveSchema, name);
    const rebuilt = scanTable(db, rebuiltSchema, name);
    const liveDigest = new RowsDigest();
    const rebuiltDigest = new RowsDigest();
    const differences: RowDifference[] = [];
    let count = 0;
    const differ = (difference: RowDifference) => {
      count += 1;
      if (differences.length < maxDifferences) differences.push(difference);
    };
    let a = await live.next();
    let b = await rebuilt.next();
    while (a.done !== true || b.done !== true) {
      const order =
        a.done === true ? 1 : b.done === true ? -1 : byCodePoint(a.value.key, b.value.key);
      if (order < 0 && a.done !== true) {
        liveDigest.add(canonicalJson(a.value.row));
        differ({ key: shownKey(a.value.key), kind: 'unexpected', live: a.value.row });
        a = await live.next();
      } else if (order > 0 && b.done !== true) {
        rebuiltDigest.add(canonicalJson(b.value.row));
        differ({ key: shownKey(b.value.key), kind: 'missing', rebuilt: b.value.row });
        b = await rebuilt.next();
      } else if (a.done !== true && b.done !== true) {
        const x = canonicalJson(a.value.row);
        const y = canonicalJson(b.value.row);
        liveDigest.add(x);
        rebuiltDigest.add(y);
        if (x !== y) {
          differ({
            key: shownKey(a.value.key),
            kind: 'changed',
            columns: changedColumns(a.value.row, b.value.row),
            live: a.value.row,
            rebuilt: b.value.row,
          });
        }
        a = await live.next();
        b = await rebuilt.next();
      }
    }
    const liveSide = { rows: liveDigest.rows, digest: liveDigest.digest() };
    const rebuiltSide = { rows: rebuiltDigest.rows, digest: rebuiltDigest.digest() };
    out.push({
      table,
      sqlTable: `${liveSchema}.${name}`,
      live: liveSide,
      rebuilt: rebuiltSide,
      identical: count === 0 && liveSide.digest === rebuiltSide.digest,
      differences,
      differenceCount: count,
    });
  }
  return out;
}

/** A stored key as a report shows it: decoded, or as stored when it is a digest. */
function shownKey(stored: string): string {
  return decodedKey(stored) ?? stored;
}

/** The top-level keys whose values differ (all keys when either side is not an object). */
function changedColumns(a: unknown, b: unknown): string[] {
  const isObject = (v: unknown): v is Record<string, unknown> =>
    typeof v === 'object' && v !== null && !Array.isArray(v);
  if (!isObject(a) || !isObject(b)) return [];
  const keys = [...new Set([...Object.keys(a), ...Object.keys(b)])].sort(byCodePoint);
  return keys.filter((k) => canonicalJson(a[k] ?? null) !== canonicalJson(b[k] ?? null));
}
