import { sql, type Kysely, type RawBuilder } from 'kysely';
import type { Lookup, ProjectionFold } from '../../projections/projection.ts';
import { LedgerError } from '../errors.ts';
import type { StoredEvent } from '../store/port.ts';
import { KeyFilter } from './key-filter.ts';
import { readModelTables, type AnyTables } from './read-model-tables.ts';
import { parseStoredRow, storedKey, storedUpsertsJson } from './stored-text.ts';

/** Marks a key cached as absent (a `Map` cannot tell a stored `undefined` from a missing key). */
const ABSENT = Symbol('absent');

/** Thrown by the lookup on a row neither cached nor staged: fetched, then the event is re-run. */
class RowMiss extends Error {
  constructor(
    readonly table: string,
    readonly key: string,
  ) {
    super(`Row ${key} of ${table} is not cached.`);
  }
}

/** Changes by table, then key: the final row, or `null` for a delete. */
export type StagedRows = Map<string, Map<string, unknown>>;

/** A row {@link RowStore.stage} needs and does not have: fetch it, then stage the event again. */
export interface MissingRow {
  table: string;
  key: string;
}

/**
 * The rows of one pure projection as its fold sees them, in three layers: the changes staged
 * since the last {@link seal} (`open`), the sealed changes being written (`sealed`), and a bounded
 * cache of committed rows (and of keys known to be absent). A lookup wants the newest of them, so
 * one map per table (`view`) holds, for every key any layer knows, its newest value: one hash
 * probe per lookup instead of one per layer (lookups are the hottest code of a rebuild). The
 * layers proper are kept only as the sets of changes to write.
 *
 * The pure `lookup` is synchronous, so a row the view does not hold cannot be read on the spot:
 * {@link stage} reports it missing, the caller fetches it ({@link fetch}) and stages the event
 * again (pure, so re-running is safe). {@link wanted} names a batch's likely rows beforehand, so
 * they are fetched in one query per table. For a table that was empty when the store was loaded,
 * every row is one this store wrote: a filter of the keys written tells most absent rows apart
 * without a query (a rebuild from position 0 creates nearly every row it ever looks up).
 *
 * The cache is only valid while nobody else writes the tables: the owner holds the projection's
 * lock (the live engine) or the tables are its own (a scratch rebuild). Sealed changes count as
 * cached on {@link committed}; {@link rolledBack} drops every layer.
 *
 * Shared by live serving and the catch-up of rebuilds and
 * verification, so both write rows through the same code.
 */
export class RowStore {
  readonly pure: ProjectionFold<AnyTables>;
  /** Table -> SQL table name. */
  readonly names: Map<string, string>;
  private readonly maxCached: number;
  /**
   * Per table: key -> newest row or ABSENT over all layers. Committed keys are in the order they
   * were last committed (least recently written first), which is the order eviction takes them.
   */
  private readonly view = new Map<string, Map<string, unknown>>();
  /**
   * For tables that were empty at load: the keys written since. A key it has never seen is
   * absent; one it might have seen and the view does not hold is fetched.
   */
  private readonly written = new Map<string, KeyFilter>();
  private loaded = false;
  private open: StagedRows = new Map();
  private sealed: StagedRows | undefined;
  private readonly lookup: Lookup<AnyTables>;

  constructor(pure: ProjectionFold<AnyTables>, options: { maxCachedRows: number }) {
    if (!Number.isSafeInteger(options.maxCachedRows) || options.maxCachedRows < 0) {
      throw new LedgerError('CONFIGURATION_INVALID', 'maxCachedRows must be a whole number.');
    }
    this.pure = pure;
    this.names = readModelTables(pure);
    this.maxCached = options.maxCachedRows;
    for (const table of this.names.keys()) this.view.set(table, new Map());
    this.lookup = (table: string, key: string) => {
      const found = this.known(table, key);
      if (found === MISSING) throw new RowMiss(table, key);
      return found === ABSENT ? undefined : found;
    };
  }

  /** Rows staged and not yet sealed. */
  get stagedCount(): number {
    let staged = 0;
    for (const rows of this.open.values()) staged += rows.size;
    return staged;
  }

  /** True while changes are staged or sealed: a batch neither committed nor rolled back. */
  get pending(): boolean {
    return this.open.size > 0 || this.sealed !== undefined;
  }

  /** True once {@link load} ran since the last reset. */
  get isLoaded(): boolean {
    return this.loaded;
  }

  /**
   * Notes the tables that are empty. Call it before the first batch, at a point where nobody else
   * writes the tables (so an empty table holds only this store's writes from then on).
   */
  async load(db: Kysely<unknown>, schema: string): Promise<void> {
    for (const [table, name] of this.names) {
      const { rows } = await sql<{ any: boolean }>`
        select exists (select 1 from ${sql.id(schema, name)}) as any`.execute(db);
      if (rows[0]?.any !== true) this.written.set(table, new KeyFilter());
    }
    this.loaded = true;
  }

  /** The rows `events` will likely look up that no layer holds, by table (`prefetch` hints). */
  wanted(events: Iterable<StoredEvent>): Map<string, Set<string>> {
    const out = new Map<string, Set<string>>();
    if (this.pure.prefetch === undefined) return out;
    for (const event of events) {
      if (!this.pure.handles(event.type)) continue;
      for (const { table, key } of this.pure.prefetch(event)) {
        if (!this.names.has(table) || this.known(table, key) !== MISSING) continue;
        let missing = out.get(table);
        if (missing === undefined) out.set(table, (missing = new Set()));
        missing.add(key);
      }
    }
    return out;
  }

  /** Fetches committed rows into the cache (absent ones as absent). */
  async fetch(
    db: Kysely<unknown>,
    schema: string,
    table: string,
    keys: Iterable<string>,
  ): Promise<void> {
    const list = [...keys];
    if (list.length === 0) return;
    const stored = list.map(storedKey);
    // As text, parsed here: a row holding the escape character is decoded (`stored-text.ts`).
    const { rows } = await sql<{ key: string; row: string }>`
      select key, row::text as row from ${sql.id(schema, this.names.get(table)!)}
       where key = any(${stored}::text[])`.execute(db);
    const found = new Map(rows.map((r) => [r.key, r.row]));
    const view = this.view.get(table)!;
    list.forEach((key, i) => {
      // A key some layer knows by now is newer there than in the database.
      if (view.has(key)) return;
      const text = found.get(stored[i]!);
      view.set(key, text === undefined ? ABSENT : parseStoredRow(text));
    });
  }

  /**
   * Applies `event` (one the projection handles) to the open layer, or returns the row it needs
   * and does not have, staging nothing. Errors of the projection itself (a malformed event) throw.
   */
  stage(event: StoredEvent): MissingRow | undefined {
    let changes;
    try {
      changes = this.pure.apply(event, this.lookup);
    } catch (error) {
      if (error instanceof RowMiss) return { table: error.table, key: error.key };
      throw error;
    }
    for (const change of changes) {
      const view = this.view.get(change.table);
      if (view === undefined) {
        throw new LedgerError(
          'CONFIGURATION_INVALID',
          `Projection ${this.pure.name} changed unknown table ${change.table}.`,
        );
      }
      let rows = this.open.get(change.table);
      if (rows === undefined) this.open.set(change.table, (rows = new Map<string, unknown>()));
      rows.set(change.key, change.row);
      view.set(change.key, change.row === null ? ABSENT : change.row);
    }
    return undefined;
  }

  /**
   * Closes the open layer and returns it for writing; staging goes on in a fresh one. At most one
   * sealed layer at a time: the previous one must have been committed or rolled back.
   */
  seal(): StagedRows {
    if (this.sealed !== undefined) {
      throw new Error(`Projection ${this.pure.name}: the previous batch is still being written.`);
    }
    const staged = this.open;
    this.sealed = staged;
    this.open = new Map();
    return staged;
  }

  /**
   * The sealed changes have committed: they count as cached, as the most recently written rows,
   * and the cache is trimmed.
   */
  committed(): void {
    const staged = this.sealed;
    this.sealed = undefined;
    if (staged === undefined) return;
    for (const [table, rows] of staged) {
      const view = this.view.get(table)!;
      const written = this.written.get(table);
      for (const [key, row] of rows) {
        // To the end of the eviction order, with the newest value (the open layer may hold a
        // later one than the row just committed).
        const newest = view.get(key);
        view.delete(key);
        view.set(key, newest);
        if (row !== null) written?.add(key);
      }
    }
    this.evict();
  }

  /**
   * The write failed, or its outcome is unknown (a failed COMMIT), or someone else may write the
   * tables next: forget everything, and load again before the next batch.
   */
  rolledBack(): void {
    this.open = new Map();
    this.sealed = undefined;
    for (const rows of this.view.values()) rows.clear();
    this.written.clear();
    this.loaded = false;
  }

  /**
   * The cached rows by table then key (`undefined`: cached as absent): what the view holds for
   * keys no staged or sealed change covers. For tests.
   */
  cachedRows(): Map<string, Map<string, unknown>> {
    const out = new Map<string, Map<string, unknown>>();
    for (const [table, rows] of this.view) {
      const copy = new Map<string, unknown>();
      for (const [key, row] of rows) {
        if (this.open.get(table)?.has(key) || this.sealed?.get(table)?.has(key)) continue;
        copy.set(key, row === ABSENT ? undefined : row);
      }
      if (copy.size > 0) out.set(table, copy);
    }
    return out;
  }

  /** The row as the layers know it: a row, ABSENT, or MISSING when none of them knows. */
  private known(table: string, key: string): unknown {
    const row = this.view.get(table)?.get(key);
    if (row !== undefined) return row;
    const written = this.written.get(table);
    return written !== undefined && !written.mightHave(key) ? ABSENT : MISSING;
  }

  /**
   * Drops the least recently written committed rows, from the largest tables first, until the
   * cache (the view less the open layer) is within its bound. Called with nothing sealed; keys of
   * the open layer stay, or their staged values would be lost to lookups.
   */
  private evict(): void {
    let viewed = 0;
    for (const rows of this.view.values()) viewed += rows.size;
    let excess = viewed - this.stagedCount - this.maxCached;
    while (excess > 0) {
      let table = '';
      let largest = -1;
      for (const [name, rows] of this.view) {
        const cached = rows.size - (this.open.get(name)?.size ?? 0);
        if (cached > largest) [table, largest] = [name, cached];
      }
      const rows = this.view.get(table)!;
      const open = this.open.get(table);
      let take = Math.min(excess, largest);
      if (take <= 0) return;
      for (const key of rows.keys()) {
        if (take <= 0) break;
        if (open?.has(key)) continue;
        rows.delete(key);
        excess -= 1;
        take -= 1;
      }
    }
  }
}

/** No layer knows the row. */
const MISSING = Symbol('missing');

/** Rows per upsert statement: bounds the JSON text built at once (large strings are costly to GC). */
const ROWS_PER_STATEMENT = 2_000;

/**
 * The statements that write staged changes, each taking effect only where `gate` (a SQL
 * condition) holds: per table, bulk upserts of at most {@link ROWS_PER_STATEMENT} rows and one bulk
 * delete, each key once with its final value. Lazy: each upsert's JSON is built when it is
 * reached. Rows go through JSON (`jsonb`): they must be JSON values.
 *
 * Every row write of live serving, rebuilds and verification goes through here, and so through
 * the one encoding of what the tables cannot hold ({@link storedKey}, {@link storedUpsertsJson}).
 */
export function* stagedRowWrites(
  schema: string,
  names: ReadonlyMap<string, string>,
  staged: StagedRows,
  gate: RawBuilder<unknown> = sql`true`,
): Generator<RawBuilder<unknown>> {
  for (const [table, rows] of staged) {
    const target = sql.id(schema, names.get(table)!);
    const deletes: string[] = [];
    let upserts: { key: string; row: unknown }[] = [];
    const upsert = () => {
      const payload = storedUpsertsJson(upserts);
      upserts = [];
      return sql`insert into ${target} (key, row)
                 select e.key, e.row
                   from jsonb_to_recordset(${payload}::jsonb) as e(key text, row jsonb)
                  where ${gate}
                 on conflict (key) do update set row = excluded.row`;
    };
    for (const [key, row] of rows) {
      if (row === null) deletes.push(storedKey(key));
      else upserts.push({ key: storedKey(key), row });
      if (upserts.length >= ROWS_PER_STATEMENT) yield upsert();
    }
    if (upserts.length > 0) yield upsert();
    if (deletes.length > 0) {
      yield sql`delete from ${target} where key = any(${deletes}::text[]) and ${gate}`;
    }
  }
}

/** Writes staged changes ({@link stagedRowWrites}), one statement after another. */
export async function writeStagedRows(
  db: Kysely<unknown>,
  schema: string,
  names: ReadonlyMap<string, string>,
  staged: StagedRows,
): Promise<void> {
  for (const write of stagedRowWrites(schema, names, staged)) await write.execute(db);
}
