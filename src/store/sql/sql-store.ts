import { CompiledQuery, sql, type Kysely } from 'kysely';
import { LedgerError } from '../../errors.ts';
import {
  DEFAULT_MAX_EVENT_BYTES,
  NO_STREAM,
  assertStreamName,
  revisionConflict,
  type PreparedEvent,
  checkAppend,
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
  StoreCapabilities,
  StoredEvent,
  SubscribeOptions,
} from '../port.ts';
import { appendStatement } from './append-statement.ts';
import { assertSchemaName } from './migrations.ts';
import { GroupCommitQueue, type Pending } from './group-commit.ts';
import type { LedgerTables } from './tables.ts';
import { isUniqueViolation, translateSqlError } from './translate-error.ts';

/** What differs between PostgreSQL (pg pool) and PGlite (embedded): connection and notifications. */
export interface SqlDriver {
  db: Kysely<LedgerTables>;
  /**
   * Delivers append notifications committed by other processes. Absent where one process owns
   * the database (PGlite): in-process commits wake subscribers directly.
   */
  listen?(channel: string, onPosition: (position: Position) => void): Promise<() => Promise<void>>;
  /**
   * Runs a statement as a named prepared statement where the driver keeps one per connection
   * (pg), so a hot statement is parsed and planned once per connection instead of once per call.
   * Absent on PGlite, where statements go through kysely.
   */
  prepared?<R>(name: string, text: string, values: unknown[]): Promise<R[]>;
  close(): Promise<void>;
}

export interface SqlStoreOptions {
  /** PostgreSQL schema holding the log. Default `ledger`. */
  schema?: string;
  /** Largest serialized event (data plus metadata) in bytes. Default 1 MiB. */
  maxEventBytes?: number;
  /** Most events one group-commit transaction carries. Default 2,000. */
  maxBatchEvents?: number;
  /**
   * Group-commit batches in flight at once. They commit one after another under the head lock;
   * a second overlaps its transfer with the first one's execution. Default 2.
   */
  maxBatchesInFlight?: number;
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
  /** The PostgreSQL schema holding the log. */
  readonly schema: string;
  private readonly channel: string;
  private readonly appendText: string;
  private readonly appendName: string;
  private readonly readAllText: string;
  private readonly readAllName: string;
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
    // The store's fixed statements name the schema in their text.
    assertSchemaName(this.schema);
    this.channel = `ledger_${this.schema}`;
    this.appendText = appendStatement(this.schema);
    this.appendName = `ledger_append_${this.schema}`;
    // Rows come out as stored events already (names, key order and numbers as toStoredEvent
    // makes them): readAll feeds rebuilds a million rows at a time, and a copy per row was a
    // tenth of reading them. float8 holds every position and revision exactly (below 2^53).
    // e.position, not the float8 output column of that name: the index orders the table's.
    this.readAllText = `select event_id as id, stream_id as stream, revision::float8 as revision,
        position::float8 as position, type, data, metadata
   from "${this.schema}"."events" e
  where e.position > $1 order by e.position limit $2`;
    this.readAllName = `ledger_read_all_${this.schema}`;
    this.capabilities = {
      densePositions: true,
      maxEventBytes: options.maxEventBytes ?? DEFAULT_MAX_EVENT_BYTES,
    };
    this.pollIntervalMs = options.pollIntervalMs ?? 1000;
    this.beforeCommit = options.beforeCommit;
    this.queue = new GroupCommitQueue((batch) => this.commitBatch(batch), {
      maxBatchWeight: options.maxBatchEvents ?? 2000,
      maxInFlight: options.maxBatchesInFlight ?? 2,
    });
  }

  async append(
    stream: string,
    events: NewEvent[],
    options: AppendOptions = {},
  ): Promise<AppendResult> {
    this.assertOpen();
    const { expected, prepared } = checkAppend(
      stream,
      events,
      options,
      this.capabilities.maxEventBytes,
    );
    return this.queue.submit({ stream, events: prepared, expected }, stream, prepared.length);
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
    return this.run(() =>
      this.statement<StoredEvent>(this.readAllName, this.readAllText, [after, options.limit]),
    );
  }

  /**
   * Runs one of the store's fixed statements: prepared once per connection where the driver can
   * (pg), through kysely otherwise (PGlite). Errors are the driver's.
   */
  private async statement<R>(
    name: string,
    text: string,
    values: unknown[],
    db: Kysely<LedgerTables> = this.db,
  ): Promise<R[]> {
    // Prepared statements live on pool connections; a transaction (db !== this.db) has its own.
    if (db === this.db && this.driver.prepared !== undefined) {
      return this.driver.prepared<R>(name, text, values);
    }
    return (await db.executeQuery<R>(CompiledQuery.raw(text, values))).rows;
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
      const { events, head } = await this.readPage(after, batchSize);
      // Stopped while the page was read: the subscriber is gone, so nothing is handed on and
      // the page is dropped here rather than held by a suspended generator.
      if (stopped()) return;
      for (const event of events) {
        // Positions are dense: a hole means rows were removed behind the ledger's back.
        if (event.position !== after + 1) throw missingPosition(after + 1, event.position);
        yield event;
        after = event.position;
        if (stopped()) return;
      }
      if (events.length < batchSize) {
        // The page and the head come from one snapshot: a head beyond the last event read means
        // the tail of the log was removed, which no later event would ever reveal.
        if (head > after) throw missingPosition(after + 1, null);
        options.onCaughtUp?.(after);
        await this.waitBeyond(after, options.signal);
      }
    }
  }

  /** A page of the log after `after`, and the head position, read in one statement (one snapshot). */
  private async readPage(
    after: Position,
    limit: number,
  ): Promise<{ events: StoredEvent[]; head: Position }> {
    this.assertOpen();
    const result = await this.run(() =>
      sql<EventRow & { head: string | number }>`
        select h.position as head, e.*
          from ${sql.table(`${this.schema}.head`)} h
          left join lateral (
            select position, event_id, stream_id, revision, type, data, metadata
              from ${sql.table(`${this.schema}.events`)}
             where position > ${after} order by position limit ${limit}
          ) e on true
         where h.id = 1`.execute(this.db),
    );
    const head = Number(result.rows[0]?.head ?? 0);
    const events = result.rows.filter((row) => row.position !== null).map(toStoredEvent);
    this.noteHead(head);
    return { events, head };
  }

  /**
   * The database the log lives in, for read models kept beside it. On PGlite it is the only
   * connection this process has to that directory, so read models must share it.
   */
  get database(): Kysely<unknown> {
    return this.db as unknown as Kysely<unknown>;
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
    const recordedAt = new Date().toISOString();
    const events = batch.flatMap((p) => p.request.events);
    const dataArray = `[${events.map((e) => e.dataJson).join(',')}]`;
    const metadataArray = `[${events.map((e) => withRecordedAt(e.metadataJson, recordedAt)).join(',')}]`;
    if (
      batch.every((p) => p.request.expected !== 'any' && p.request.expected !== 'stream_exists')
    ) {
      const start = await this.appendAtOnce(batch, events, dataArray, metadataArray);
      if (start !== undefined) {
        settleAtOnce(batch, start);
        this.noteHead(start + events.length);
        return;
      }
    }
    const rows = await this.run(() =>
      this.withCommitHook(async (db) => {
        const call = sql<OutcomeRow>`
        select * from ${sql.table(`${this.schema}.append_batch`)}(
          ${batch.map((p) => p.request.stream)}::text[],
          ${batch.map((p) => String(p.request.expected))}::text[],
          ${batch.map((p) => p.request.events.length)}::int4[],
          ${batch.flatMap((p, i) => p.request.events.map(() => i + 1))}::int4[],
          ${events.map((e) => e.id)}::uuid[],
          ${events.map((e) => e.type)}::text[],
          ${dataArray}::json,
          ${metadataArray}::json,
          ${events.map((e) => e.idempotencyKey ?? null)}::text[],
          ${this.channel})`;
        return (await call.execute(db)).rows;
      }),
    );
    let head = 0;
    batch.forEach((pending, i) => {
      const row = rows[i];
      if (row === undefined) {
        pending.reject(
          new LedgerError('STORE_UNAVAILABLE', 'The store returned no outcome for an append.'),
        );
        return;
      }
      const outcome = toOutcome(pending.request, row);
      if ('ok' in outcome) {
        pending.resolve(outcome.ok);
        head = Math.max(head, ...outcome.ok.positions);
      } else {
        pending.reject(outcome.error);
      }
    });
    this.noteHead(head);
  }

  /**
   * Writes a batch whose appends all state their revision in one statement (see
   * append-statement.ts). Returns the head it started from, or undefined when an append would
   * fail (a collision or a short stream): nothing was written, and the full decision must answer.
   */
  private async appendAtOnce(
    batch: Pending<AppendRequest, AppendResult>[],
    events: PreparedEvent[],
    dataArray: string,
    metadataArray: string,
  ): Promise<number | undefined> {
    const probeStreams: string[] = [];
    const probeRevisions: number[] = [];
    const streams: string[] = [];
    const revisions: number[] = [];
    for (const { request } of batch) {
      const base = statedRevision(request.expected);
      if (base !== NO_STREAM) {
        probeStreams.push(request.stream);
        probeRevisions.push(base);
      }
      request.events.forEach((_, k) => {
        streams.push(request.stream);
        revisions.push(base + k + 1);
      });
    }
    const values = [
      probeStreams,
      probeRevisions,
      events.map((e) => e.id),
      streams,
      revisions,
      events.map((e) => e.type),
      events.map((e) => e.idempotencyKey ?? null),
      dataArray,
      metadataArray,
      this.channel,
    ];
    try {
      const rows = await this.withCommitHook((db) =>
        this.statement<{ start: string }>(this.appendName, this.appendText, values, db),
      );
      const row = rows[0];
      return row === undefined ? undefined : Number(row.start);
    } catch (error) {
      if (isUniqueViolation(error)) return undefined;
      throw translateSqlError(error);
    }
  }

  /** Runs one append statement, in a transaction that awaits the test hook before COMMIT if set. */
  private async withCommitHook<T>(work: (db: Kysely<LedgerTables>) => Promise<T>): Promise<T> {
    const hook = this.beforeCommit;
    if (hook === undefined) return work(this.db);
    return this.db.transaction().execute(async (trx) => {
      const result = await work(trx);
      await hook();
      return result;
    });
  }

  private table<T extends keyof LedgerTables>(name: T) {
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

interface OutcomeRow {
  outcome: 'ok' | 'duplicate' | 'conflict' | 'key_reused';
  revisions: (string | number)[] | null;
  positions: (string | number)[] | null;
  stream_revision: string | number;
}

/** Turns the database's verdict on one append into its result or its error. */
function toOutcome(request: AppendRequest, row: OutcomeRow): Outcome {
  const { stream, expected } = request;
  const current = Number(row.stream_revision);
  switch (row.outcome) {
    case 'ok':
    case 'duplicate':
      return {
        ok: {
          stream,
          revisions: (row.revisions ?? []).map(Number),
          positions: (row.positions ?? []).map(Number),
          nextExpectedRevision: current,
          duplicate: row.outcome === 'duplicate',
        },
      };
    case 'conflict':
      return { error: revisionConflict(stream, expected, current) };
    case 'key_reused':
      return {
        error: new LedgerError(
          'IDEMPOTENCY_KEY_REUSED',
          'An idempotency key of this append is held by different content, or only part of the append was a retry.',
          { stream, idempotency_keys: request.events.map((e) => e.idempotencyKey ?? null) },
        ),
      };
  }
}

/** The revision an append states it expects (`no_stream`: -1); only for `no_stream` or a number. */
function statedRevision(expected: ExpectedRevision): number {
  return expected === 'no_stream' ? NO_STREAM : Number(expected);
}

/** Answers every append of a batch that `appendAtOnce` wrote from the head it started at. */
function settleAtOnce(batch: Pending<AppendRequest, AppendResult>[], start: Position): void {
  let position = start;
  for (const pending of batch) {
    const { request } = pending;
    const base = statedRevision(request.expected);
    const n = request.events.length;
    pending.resolve({
      stream: request.stream,
      revisions: Array.from({ length: n }, (_, k) => base + k + 1),
      positions: Array.from({ length: n }, (_, k) => position + k + 1),
      nextExpectedRevision: base + n,
      duplicate: false,
    });
    position += n;
  }
}

/** Adds `recorded_at` as the last key of serialized metadata, without parsing it again. */
function withRecordedAt(metadataJson: string, recordedAt: string): string {
  const stamp = `"recorded_at":${JSON.stringify(recordedAt)}}`;
  return metadataJson === '{}' ? `{${stamp}` : `${metadataJson.slice(0, -1)},${stamp}`;
}

function missingPosition(expected: Position, found: Position | null): LedgerError {
  return new LedgerError(
    'LOG_INTEGRITY_VIOLATION',
    `Position ${expected} is missing from the log.`,
    {
      expected,
      found,
    },
  );
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
