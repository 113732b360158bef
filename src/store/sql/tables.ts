import type { ColumnType } from 'kysely';

/*
 * Rows of the SQL event store, shared by PostgreSQL and PGlite. int8 columns come back as strings
 * from pg and as numbers from PGlite, so readers convert with Number() (positions stay far below
 * 2^53).
 */
type Int8 = ColumnType<string | number | bigint, number, number>;

export interface EventsTable {
  /** Dense global position, assigned under the head lock in commit order. */
  position: Int8;
  event_id: string;
  stream_id: string;
  revision: Int8;
  type: string;
  /** `json`, not `jsonb`: the text is kept exactly as appended (key order, spelling). */
  data: ColumnType<unknown, string, string>;
  metadata: ColumnType<unknown, string, string>;
  idempotency_key: string | null;
}

/** One row (id = 1): the last assigned position. Locking it serialises appends. */
export interface HeadTable {
  id: number;
  position: Int8;
}

export interface LedgerTables {
  events: EventsTable;
  head: HeadTable;
}
