import { safeParseStored } from '../schemas/parse-memo.ts';
import type { z } from 'zod';
import type { StoredEvent } from '../schemas/stored-event.ts';
import { isLedgerError } from '../src/errors.ts';
import { missionIdOf } from '../schemas/streams.ts';

/**
 * A change to one row of a read-model table: `row` is the row's whole new content, `null`
 * deletes it. `key` is the row's primary key as {@link rowKey} encodes it.
 */
export type RowChange<Tables> = {
  [T in keyof Tables & string]: { table: T; key: string; row: Tables[T] | null };
}[keyof Tables & string];

/** Reads the current row of one of the projection's own tables; `undefined` when absent. */
export type Lookup<Tables> = <T extends keyof Tables & string>(
  table: T,
  key: string,
) => Tables[T] | undefined;

/** How a table is keyed: the row columns whose values, in this order, make its primary key. */
export interface TableSpec<Row> {
  primaryKey: readonly (keyof Row & string)[];
  description: string;
  /**
   * Secondary indexes the reads need, each a list of top-level (string-valued) row columns; the
   * row key is appended to each so it can serve keyset paging. Storage adapters create them.
   */
  indexes?: readonly (readonly (keyof Row & string)[])[];
}

/** A row `apply` is likely to look up: lets a storage adapter fetch a batch's rows at once. */
export interface RowRef<Tables> {
  table: keyof Tables & string;
  key: string;
}

/**
 * A projection: a pure fold from stored events to the rows of the tables it owns.
 *
 * `apply(event, lookup)` reads only the event and, through `lookup`, the current rows of its own
 * tables, and returns the changes the event makes. No clock, randomness or I/O: times come from
 * the event's data or `metadata.recorded_at`. Unknown event types give no changes. Stored data that
 * fails its schema throws {@link MalformedEventError}. A projection never reads another
 * projection's tables, so each can be rebuilt (and checkpointed) on its own.
 *
 * At most one change per (table, key) per event; changes are applied in order.
 *
 * @example
 * const model = replayProjection(missionStateProjection, events);
 * lookupIn(model)('mission_state', 'msn_1')?.status; // 'running'
 */
export interface ProjectionFold<Tables> {
  /** The read model's name; also the prefix of its tables. */
  readonly name: string;
  /** Bumped when the rows change meaning: tables built by another version stall until rebuilt. */
  readonly version: number;
  readonly tables: { readonly [T in keyof Tables & string]: TableSpec<Tables[T]> };
  /** True for the event types that can change this projection's rows. */
  handles(type: string): boolean;
  apply(event: StoredEvent, lookup: Lookup<Tables>): RowChange<Tables>[];
  /**
   * Optional hint: the rows `apply(event)` will probably look up. Only a performance hint for
   * adapters that keep rows elsewhere (a missed row is fetched when looked up); never required
   * to be complete or exact.
   */
  prefetch?(event: StoredEvent): RowRef<Tables>[];
}

/**
 * Encodes a primary key: a single string part is itself, anything else the JSON array of its
 * parts (unambiguous, and the same on every machine).
 *
 * @example rowKey('msn_1') // 'msn_1'
 * @example rowKey('coding', 'running') // '["coding","running"]'
 */
export function rowKey(...parts: readonly (string | number)[]): string {
  const [first] = parts;
  if (parts.length === 1 && typeof first === 'string') return first;
  // JSON.stringify(parts), written out where that is plain concatenation: folds build keys for
  // every event, and the generic serializer was a fiftieth of a rebuild.
  let key = '[';
  for (let i = 0; i < parts.length; i += 1) {
    const part = parts[i]!;
    if (typeof part === 'string' ? NEEDS_ESCAPE.test(part) : !Number.isFinite(part)) {
      return JSON.stringify(parts);
    }
    key += i === 0 ? '' : ',';
    key += typeof part === 'string' ? `"${part}"` : String(part);
  }
  return `${key}]`;
}

/** What JSON.stringify escapes in a string: quote, backslash, control characters, surrogates. */
// eslint-disable-next-line no-control-regex
const NEEDS_ESCAPE = /["\\\u0000-\u001f\ud800-\udfff]/;

/** The key of `row` under `spec`: {@link rowKey} of its primary-key columns. */
export function keyOf<Row>(spec: TableSpec<Row>, row: Row): string {
  return rowKey(...spec.primaryKey.map((column) => row[column] as string | number));
}

/** An in-memory read model: table name -> (row key -> row). */
export type ReadModel = ReadonlyMap<string, ReadonlyMap<string, unknown>>;

/** A read model with no rows. */
export function emptyReadModel(): ReadModel {
  return new Map();
}

/** A {@link Lookup} over an in-memory read model. */
export function lookupIn<Tables>(model: ReadModel): Lookup<Tables> {
  return <T extends keyof Tables & string>(table: T, key: string) =>
    model.get(table)?.get(key) as Tables[T] | undefined;
}

/**
 * Applies changes to an in-memory read model and returns the new model; `model` is not modified
 * (only the tables that change are copied). Used by tests and by replay verification.
 */
export function applyChanges<Tables>(
  model: ReadModel,
  changes: readonly RowChange<Tables>[],
): ReadModel {
  if (changes.length === 0) return model;
  const next = new Map(model);
  const copied = new Set<string>();
  for (const { table, key, row } of changes) {
    let rows = next.get(table) as Map<string, unknown> | undefined;
    if (!copied.has(table)) {
      rows = new Map(rows);
      next.set(table, rows);
      copied.add(table);
    }
    if (row === null) rows!.delete(key);
    else rows!.set(key, row);
  }
  return next;
}

/**
 * Folds `events` (in position order) through `projection` from an empty read model. Events the
 * projection does not handle are skipped.
 */
export function replayProjection<Tables>(
  projection: ProjectionFold<Tables>,
  events: Iterable<StoredEvent>,
  model: ReadModel = emptyReadModel(),
): ReadModel {
  let current = model;
  for (const event of events) {
    if (!projection.handles(event.type)) continue;
    current = applyChanges(current, projection.apply(event, lookupIn<Tables>(current)));
  }
  return current;
}

/**
 * A read model as plain data in a canonical order: tables by name, rows by key (code-point
 * order, see {@link byCodePoint}; not locale order). Empty tables are left out, so a table whose rows were all deleted
 * equals one that never had any. Its JSON is what replay verification compares.
 */
export function snapshot(model: ReadModel): Record<string, unknown[]> {
  const out: Record<string, unknown[]> = {};
  for (const table of [...model.keys()].sort(byCodePoint)) {
    const rows = model.get(table)!;
    if (rows.size === 0) continue;
    out[table] = [...rows.keys()].sort(byCodePoint).map((key) => rows.get(key));
  }
  return out;
}

/**
 * Orders strings by Unicode code point, which is UTF-8 byte order and PostgreSQL's `"C"`
 * collation on a UTF-8 database: the order key/row tables are scanned in. (JavaScript's `<`
 * compares UTF-16 code units, which differs for characters above U+FFFF.)
 */
export function byCodePoint(a: string, b: string): number {
  const n = Math.min(a.length, b.length);
  for (let i = 0; i < n; i += 1) {
    const x = a.charCodeAt(i);
    const y = b.charCodeAt(i);
    if (x === y) continue;
    // Surrogates (0xD800-0xDFFF) encode code points above 0xFFFF: they sort after 0xE000-0xFFFF.
    const surrogate = (c: number) => c >= 0xd800 && c <= 0xdfff;
    if (surrogate(x) !== surrogate(y)) return surrogate(x) ? 1 : -1;
    return x - y;
  }
  return a.length - b.length;
}

/** Thrown when a stored event's data fails its schema: the log is not what the ledger wrote. */
export class MalformedEventError extends Error {
  override readonly name = 'MalformedEventError';

  constructor(
    readonly projection: string,
    readonly position: number,
    readonly stream: string,
    readonly type: string,
    readonly issues: readonly string[],
    options?: { cause?: unknown },
  ) {
    super(
      `Projection ${projection}: stored event at position ${position} (${type} in ${stream}) is malformed: ${issues.join('; ')}`,
      options,
    );
  }
}

/** Parses an event's data with `schema`, or throws {@link MalformedEventError} naming its position. */
export function parseEventData<T>(projection: string, event: StoredEvent, schema: z.ZodType<T>): T {
  const result = safeParseStored(schema, event.data);
  if (result.success) return result.data;
  throw new MalformedEventError(
    projection,
    event.position,
    event.stream,
    event.type,
    result.error.issues.map((issue) => `${issue.path.join('.') || '(data)'}: ${issue.message}`),
  );
}

/**
 * Runs `fold` (a domain fold such as `evolveMission`), turning the domain's
 * LOG_INTEGRITY_VIOLATION into a {@link MalformedEventError} that names the event's position.
 */
export function foldingEvent<T>(projection: string, event: StoredEvent, fold: () => T): T {
  try {
    return fold();
  } catch (error) {
    if (!isLedgerError(error, 'LOG_INTEGRITY_VIOLATION')) throw error;
    const issues =
      (error.details.issues as { path: string[]; message: string }[] | undefined) ?? [];
    throw new MalformedEventError(
      projection,
      event.position,
      event.stream,
      event.type,
      issues.length > 0
        ? issues.map((issue) => `${issue.path.join('.') || '(data)'}: ${issue.message}`)
        : [error.message],
      { cause: error },
    );
  }
}

/** The last stream {@link missionIdOfStream} was asked about, and its answer. */
let lastStream: string | undefined;
let lastMissionId: string | undefined;

/** The mission id of a `mission-{id}` stream; `undefined` for any other stream. */
export function missionIdOfStream(stream: string): string | undefined {
  // Every projection asks twice per event (prefetch and apply). Answering with one string keeps
  // its hash, computed by the first map lookup, for all the lookups that follow.
  if (stream === lastStream) return lastMissionId;
  lastStream = stream;
  lastMissionId = missionIdOf(stream);
  return lastMissionId;
}

/** The UTC hour an instant falls in, as `YYYY-MM-DDTHH:00:00.000Z`. Parses; never reads a clock. */
export function utcHour(instant: string): string {
  // The ledger's own times (recorded_at, received_at) are already UTC in toISOString's form;
  // their hour is their first 13 characters. Anything else goes through Date.
  if (CANONICAL_UTC.test(instant)) return `${instant.slice(0, 13)}:00:00.000Z`;
  return `${new Date(Date.parse(instant)).toISOString().slice(0, 13)}:00:00.000Z`;
}

/**
 * `Date.prototype.toISOString` output (years 0000 to 9999) on a day every month has: Date rolls an
 * impossible day over (February 30 is March 2), so days 29 to 31 take the slow path.
 */
const CANONICAL_UTC =
  /^\d{4}-(0[1-9]|1[0-2])-(0[1-9]|1\d|2[0-8])T([01]\d|2[0-3]):[0-5]\d:[0-5]\d\.\d{3}Z$/;
