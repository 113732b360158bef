import { sql, type Kysely, type Transaction } from 'kysely';
import { LedgerError } from '../../errors.ts';
import {
  DEFAULT_MAX_EVENT_BYTES,
  NO_STREAM,
  assertExpectedRevision,
  assertStreamName,
  expectedRevisionHolds,
  prepareAppend,
  resolveIdempotency,
  revisionConflict,
  type KeyedEvent,
  type PreparedEvent,
} from '../append-plan.ts';
import type {
  AppendOptions,
  AppendResult,
  EventStore,
  ExpectedRevision,
  NewEvent,
  Position,
  ReadAllOptions,
  ReadStreamOptions,
  Revision,
  StoreCapabilities,
  StoredEvent,
  SubscribeOptions,
} from '../port.ts';
import { GroupCommitQueue, type Pending } from './group-commit.ts';
import type { LedgerTables } from './tables.ts';
import { translateSqlError } from './translate-error.ts';

/** What differs between PostgreSQL (pg pool) and PGlite (embedded): connection and notifications. */
export interface SqlDriver {
  db: Kysely<LedgerTables>;
  /**
   * Delivers append notifications committed by other processes. Absent where one process owns
   * the database (PGlite): in-process commits wake subscribers directly.
   */
  listen?(channel: string, onPosition: (position: Position) => void): Promise<() => Promise<void>>;
  close(): Promise<void>;
}

export interface SqlStoreOptions {
  /** PostgreSQL schema holding the log. Default `ledger`. */
  schema?: string;
  /** Largest serialized event (data plus metadata) in bytes. Default 1 MiB. */
  maxEventBytes?: number;
  /** Most events one group-commit transaction carries. Default 2,000. */
  maxBatchEvents?: number;
  /** Longest a live subscriber waits before re-reading, should a notification be lost. Default 1 s. */
  pollIntervalMs?: number;
  /**
   * Fault injection for tests: awaited inside every append transaction just before COMMIT, to
   * stretch commit timing and prove readers never skip a late-committing transaction.
   */
  beforeCommit?: () => Promise<void>;
}

interface AppendRequest {
  stream: string;
  events: PreparedEvent[];
  expected: ExpectedRevision;
}

type Outcome = { ok: AppendResult } | { error: unknown };

interface EventRow {
  position: string | number | bigint;
  event_id: string;
  stream_id: string;
  revision: string | number | bigint;
  type: string;
  data: unknown;
  metadata: unknown;
}

/**
 * The event store on PostgreSQL or PGlite (one kysely code path for both).
 *
 * Appends go through a group-commit queue: one transaction at a time per process takes every
 * queued append. Each transaction first locks the single `head` row, so transactions across all
 * processes assign positions and commit one after another: positions are dense and a reader that
 * sees position n has already been able to see every position below it. No event ever commits
 * "behind" a reader's checkpoint, which is the gap bug of sequence-based stores.
 */
export class SqlEventStore implements EventStore {
  readonly capabilities: StoreCapabilities;
  private readonly db: Kysely<LedgerTables>;
  private readonly schema: string;
  private readonly channel: string;
  private readonly queue: GroupCommitQueue<AppendRequest, AppendResult>;
  private readonly pollIntervalMs: number;
  private readonly beforeCommit: (() => Promise<void>) | undefined;
  private readonly closing = new AbortController();
  private closed = false;
  private headSeen = 0;
  private readonly waiters = new Set<() => void>();
  private unlisten: Promise<(() => Promise<void>) | undefined> | undefined;

  constructor(
    private readonly driver: SqlDriver,
    options: SqlStoreOptions = {},
  ) {
    this.db = driver.db;
    this.schema = options.schema ?? 'ledger';
    this.channel = `ledger_${this.schema}`;
    this.capabilities = {
      densePositions: true,
      maxEventBytes: options.maxEventBytes ?? DEFAULT_MAX_EVENT_BYTES,
    };
    this.pollIntervalMs = options.pollIntervalMs ?? 1000;
    this.beforeCommit = options.beforeCommit;
    this.queue = new GroupCommitQueue(
      (batch) => this.commitBatch(batch),
      options.maxBatchEvents ?? 2000,
    );
  }

  async append(
    stream: string,
    events: NewEvent[],
    options: AppendOptions = {},
  ): Promise<AppendResult> {
    this.assertOpen();
    const expected = options.expectedRevision ?? 'any';
    assertExpectedRevision(expected);
    const prepared = prepareAppend(stream, events, this.capabilities.maxEventBytes);
    return this.queue.submit({ stream, events: prepared, expected }, prepared.length);
  }

  async readStream(stream: string, options: ReadStreamOptions = {}): Promise<StoredEvent[]> {
    this.assertOpen();
    assertStreamName(stream);
    const from = options.fromRevision ?? 0;
    let query = this.table('events')
      .select(['position', 'event_id', 'stream_id', 'revision', 'type', 'data', 'metadata'])
      .where('stream_id', '=', stream)
      .where('revision', '>=', from)
      .orderBy('revision');
    if (options.limit !== undefined) query = query.limit(options.limit);
    const rows = await this.run(() => query.execute());
    return rows.map(toStoredEvent);
  }

  async readAll(options: ReadAllOptions): Promise<StoredEvent[]> {
    this.assertOpen();
    const after = options.after ?? 0;
    if (!Number.isSafeInteger(options.limit) || options.limit < 1) {
      throw new LedgerError('INVALID_ARGUMENT', 'readAll needs a positive integer limit.', {
        limit: options.limit,
      });
    }
    const rows = await this.run(() =>
      this.table('events')
        .select(['position', 'event_id', 'stream_id', 'revision', 'type', 'data', 'metadata'])
        .where('position', '>', after)
        .orderBy('position')
        .limit(options.limit)
        .execute(),
    );
    return rows.map(toStoredEvent);
  }

  async headPosition(): Promise<Position> {
    this.assertOpen();
    const row = await this.run(() =>
      this.table('head').select('position').where('id', '=', 1).executeTakeFirstOrThrow(),
    );
    return Number(row.position);
  }

  async *subscribe(options: SubscribeOptions = {}): AsyncIterableIterator<StoredEvent> {
    this.assertOpen();
    const batchSize = options.batchSize ?? 500;
    let after = options.after ?? 0;
    this.unlisten ??= this.startListening();
    await this.unlisten;
    const stopped = () => this.closed || options.signal?.aborted === true;
    while (!stopped()) {
      const events = await this.readAll({ after, limit: batchSize });
      for (const event of events) {
        // Positions are dense: a hole means rows were removed behind the ledger's back.
        if (event.position !== after + 1) {
          throw new LedgerError(
            'LOG_INTEGRITY_VIOLATION',
            `Position ${after + 1} is missing from the log.`,
            {
              expected: after + 1,
              found: event.position,
            },
          );
        }
        yield event;
        after = event.position;
        if (stopped()) return;
      }
      if (events.length < batchSize) {
        options.onCaughtUp?.(after);
        await this.waitBeyond(after, options.signal);
      }
    }
  }

  async ping(): Promise<void> {
    this.assertOpen();
    await this.run(() => sql`select 1`.execute(this.db));
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await this.queue.idle();
    this.closing.abort();
    const unlisten = await this.unlisten;
    await unlisten?.();
    await this.driver.close();
  }

  private async commitBatch(batch: Pending<AppendRequest, AppendResult>[]): Promise<void> {
    const { outcomes, head } = await this.run(() =>
      this.db.transaction().execute(async (trx) => {
        const locked = await sql<{ position: string | number }>`
          select position from ${sql.table(`${this.schema}.head`)} where id = 1 for update`.execute(
          trx,
        );
        const start = Number(locked.rows[0]?.position ?? 0);
        const recordedAt = new Date().toISOString();
        const { revisions, keyed } = await this.loadBatchState(trx, batch);
        const planned = planBatch(batch, start, revisions, keyed, recordedAt);
        if (planned.rows.length > 0) await this.writeRows(trx, planned.rows, planned.head);
        if (this.beforeCommit !== undefined) await this.beforeCommit();
        return planned;
      }),
    );
    batch.forEach((pending, i) => {
      const outcome = outcomes[i];
      if (outcome === undefined) return;
      if ('ok' in outcome) pending.resolve(outcome.ok);
      else pending.reject(outcome.error);
    });
    this.noteHead(head);
  }

  /** Current revisions of the batch's streams and the events already holding its idempotency keys. */
  private async loadBatchState(
    trx: Transaction<LedgerTables>,
    batch: Pending<AppendRequest, AppendResult>[],
  ): Promise<{ revisions: Map<string, Revision>; keyed: Map<string, KeyedEvent> }> {
    const streams = [...new Set(batch.map((p) => p.request.stream))];
    const keyStreams: string[] = [];
    const keys: string[] = [];
    for (const { request } of batch) {
      for (const event of request.events) {
        if (event.idempotencyKey === undefined) continue;
        keyStreams.push(request.stream);
        keys.push(event.idempotencyKey);
      }
    }
    const events = sql.table(`${this.schema}.events`);
    // One round trip: stream revisions and keyed events, told apart by `kind`.
    const result = await sql<{
      kind: 'r' | 'k';
      stream_id: string;
      revision: string | number | null;
      key: string | null;
      position: string | number | null;
      type: string | null;
      data: unknown;
    }>`
      select 'r' as kind, s.stream_id,
             (select max(e.revision) from ${events} e where e.stream_id = s.stream_id) as revision,
             null::text as key, null::int8 as position, null::text as type, null::json as data
        from unnest(${streams}::text[]) as s(stream_id)
      union all
      select 'k', e.stream_id, e.revision, e.idempotency_key, e.position, e.type, e.data
        from ${events} e
        join unnest(${keyStreams}::text[], ${keys}::text[]) as k(stream_id, key)
          on e.stream_id = k.stream_id and e.idempotency_key = k.key`.execute(trx);
    const revisions = new Map<string, Revision>();
    const keyed = new Map<string, KeyedEvent>();
    for (const row of result.rows) {
      if (row.kind === 'r') {
        revisions.set(row.stream_id, row.revision === null ? NO_STREAM : Number(row.revision));
      } else {
        keyed.set(keyedId(row.stream_id, row.key ?? ''), {
          revision: Number(row.revision),
          position: Number(row.position),
          type: row.type ?? '',
          data: row.data,
        });
      }
    }
    return { revisions, keyed };
  }

  private async writeRows(
    trx: Transaction<LedgerTables>,
    rows: PlannedRow[],
    head: Position,
  ): Promise<void> {
    // Column arrays through unnest: nine parameters whatever the batch size.
    await sql`
      with inserted as (
        insert into ${sql.table(`${this.schema}.events`)}
          (position, event_id, stream_id, revision, type, data, metadata, idempotency_key)
        select * from unnest(
          ${rows.map((r) => r.position)}::int8[], ${rows.map((r) => r.id)}::uuid[],
          ${rows.map((r) => r.stream)}::text[], ${rows.map((r) => r.revision)}::int8[],
          ${rows.map((r) => r.type)}::text[], ${rows.map((r) => r.dataJson)}::json[],
          ${rows.map((r) => r.metadataJson)}::json[], ${rows.map((r) => r.idempotencyKey)}::text[])
        returning 1
      ), moved as (
        update ${sql.table(`${this.schema}.head`)} set position = ${head} where id = 1 returning 1
      )
      select pg_notify(${this.channel}, ${String(head)}), (select count(*) from inserted), (select count(*) from moved)`.execute(
      trx,
    );
  }

  private table<T extends keyof LedgerTables & string>(name: T) {
    return this.db.withSchema(this.schema).selectFrom(name);
  }

  private async run<T>(work: () => Promise<T>): Promise<T> {
    try {
      return await work();
    } catch (error) {
      throw translateSqlError(error);
    }
  }

  private assertOpen(): void {
    if (this.closed) throw new LedgerError('STORE_CLOSED');
  }

  private async startListening(): Promise<(() => Promise<void>) | undefined> {
    if (this.driver.listen === undefined) return undefined;
    try {
      return await this.driver.listen(this.channel, (position) => this.noteHead(position));
    } catch {
      // Without notifications subscribers still poll every pollIntervalMs: slower, never wrong.
      return undefined;
    }
  }

  private noteHead(position: Position): void {
    if (position <= this.headSeen) return;
    this.headSeen = position;
    for (const wake of [...this.waiters]) wake();
  }

  /** Waits until an append beyond `after` is known, the poll interval passes, or the caller stops. */
  private waitBeyond(after: Position, signal: AbortSignal | undefined): Promise<void> {
    if (this.headSeen > after || this.closed || signal?.aborted) return Promise.resolve();
    return new Promise((resolve) => {
      const done = () => {
        clearTimeout(timer);
        signal?.removeEventListener('abort', done);
        this.closing.signal.removeEventListener('abort', done);
        this.waiters.delete(done);
        resolve();
      };
      const timer = setTimeout(done, this.pollIntervalMs);
      signal?.addEventListener('abort', done, { once: true });
      this.closing.signal.addEventListener('abort', done, { once: true });
      this.waiters.add(done);
    });
  }
}

interface PlannedRow {
  position: Position;
  id: string;
  stream: string;
  revision: Revision;
  type: string;
  dataJson: string;
  metadataJson: string;
  idempotencyKey: string | null;
}

function keyedId(stream: string, key: string): string {
  return `${stream}\u0000${key}`;
}

/**
 * Decides every append of a batch in arrival order against the state read under the head lock.
 * Pure: each append's conflict or duplicate is its own outcome, and later appends in the batch
 * see the revisions and keys of earlier ones.
 */
function planBatch(
  batch: Pending<AppendRequest, AppendResult>[],
  start: Position,
  revisions: Map<string, Revision>,
  keyed: Map<string, KeyedEvent>,
  recordedAt: string,
): { outcomes: Outcome[]; rows: PlannedRow[]; head: Position } {
  const rows: PlannedRow[] = [];
  let head = start;
  const outcomes = batch.map(({ request }): Outcome => {
    const { stream, events, expected } = request;
    const current = revisions.get(stream) ?? NO_STREAM;
    try {
      const existing = new Map<string, KeyedEvent>();
      for (const event of events) {
        if (event.idempotencyKey === undefined) continue;
        const original = keyed.get(keyedId(stream, event.idempotencyKey));
        if (original !== undefined) existing.set(event.idempotencyKey, original);
      }
      const idempotency = resolveIdempotency(stream, events, existing);
      if (idempotency.kind === 'duplicate') {
        return { ok: { stream, ...idempotency, nextExpectedRevision: current, duplicate: true } };
      }
      if (!expectedRevisionHolds(expected, current))
        return { error: revisionConflict(stream, expected, current) };
      const result: AppendResult = {
        stream,
        revisions: [],
        positions: [],
        nextExpectedRevision: current,
        duplicate: false,
      };
      for (const event of events) {
        head += 1;
        result.nextExpectedRevision += 1;
        const row: PlannedRow = {
          position: head,
          id: event.id,
          stream,
          revision: result.nextExpectedRevision,
          type: event.type,
          dataJson: event.dataJson,
          metadataJson: JSON.stringify({ ...event.metadata, recorded_at: recordedAt }),
          idempotencyKey: event.idempotencyKey ?? null,
        };
        rows.push(row);
        result.revisions.push(row.revision);
        result.positions.push(row.position);
        if (event.idempotencyKey !== undefined) {
          keyed.set(keyedId(stream, event.idempotencyKey), {
            revision: row.revision,
            position: row.position,
            type: event.type,
            data: event.data,
          });
        }
      }
      revisions.set(stream, result.nextExpectedRevision);
      return { ok: result };
    } catch (error) {
      return { error };
    }
  });
  return { outcomes, rows, head };
}

function toStoredEvent(row: EventRow): StoredEvent {
  return {
    id: row.event_id,
    stream: row.stream_id,
    revision: Number(row.revision),
    position: Number(row.position),
    type: row.type,
    data: row.data as StoredEvent['data'],
    metadata: row.metadata as StoredEvent['metadata'],
  };
}
