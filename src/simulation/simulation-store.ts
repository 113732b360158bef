import { closeSync, mkdtempSync, openSync, readSync, rmSync, writeSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { LedgerError } from '../errors.ts';
import {
  DEFAULT_MAX_EVENT_BYTES,
  NO_STREAM,
  assertStreamName,
  checkAppend,
  duplicateAppend,
  expectedRevisionHolds,
  resolveIdempotency,
  revisionConflict,
  type KeyedEvent,
} from '../store/append-plan.ts';
import { deepFreeze } from '../store/memory/deep-freeze.ts';
import type {
  AppendOptions,
  AppendResult,
  EventStore,
  NewEvent,
  NewEventMetadata,
  Position,
  ReadStreamOptions,
  StoreCapabilities,
  StoredEvent,
} from '../store/port.ts';

export interface SimulationStoreOptions {
  /** Streams whose events are kept in memory; the others' events are spilled to a scratch file. */
  keeps: (stream: string) => boolean;
  /** Stamps `metadata.recorded_at`: the simulation's clock. */
  now: () => Date;
  /** Every appended event, as a reader would get it back, in position order. */
  onAppended: (events: readonly StoredEvent[]) => void;
}

interface StreamEntry {
  /** Revision of the stream's last event. */
  revision: number;
  /** The events, by revision, of a kept stream; undefined for a spilled one. */
  events: StoredEvent[] | undefined;
  /** Of a spilled stream: offset and byte length in the scratch file of each event, by revision. */
  spans: number[] | undefined;
  /** The events of a kept stream that carry an idempotency key, by key. */
  keyed: Map<string, StoredEvent> | undefined;
}

/**
 * The EventStore a simulation runs on: the in-memory store's append rules (`append-plan.ts`:
 * validation, sizes, expected revisions, idempotent retries) and the same stored events, in
 * bounded memory. Every appended event goes to `onAppended` (the simulator digests it there);
 * the events of streams it `keeps` stay in memory (`ledger-keys`, read at every key change), all
 * others are written to a scratch file (unlinked as soon as it is created) and read back from it
 * when the command handler loads a stream whose fold it does not hold. Memory grows with the
 * number of streams (a few numbers each), not with the size of the log.
 *
 * There is no global log: `readAll` and `subscribe` throw (the simulator's digest stands for
 * the log). Idempotent retries at the store level are recognised on kept streams only: on the
 * others the command handler answers retries from its folds first, as it does in a single
 * serving process, and never reaches the store with one.
 */
export class SimulationStore implements EventStore {
  readonly capabilities: StoreCapabilities = {
    densePositions: true,
    maxEventBytes: DEFAULT_MAX_EVENT_BYTES,
  };
  private readonly streams = new Map<string, StreamEntry>();
  private head = 0;
  private closed = false;
  /** The scratch file of spilled events: created at the first spill. */
  private spill: { fd: number; size: number; pending: string[]; pendingBytes: number } | undefined;

  constructor(private readonly options: SimulationStoreOptions) {}

  // eslint-disable-next-line @typescript-eslint/require-await -- async turns a throw into a rejection
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
    let entry = this.streams.get(stream);
    const current = entry === undefined ? NO_STREAM : entry.revision;
    if (entry?.keyed !== undefined) {
      const existing = new Map<string, KeyedEvent>();
      for (const { idempotencyKey } of prepared) {
        const held = idempotencyKey === undefined ? undefined : entry.keyed.get(idempotencyKey);
        if (held !== undefined) existing.set(idempotencyKey!, held);
      }
      const idempotency = resolveIdempotency(stream, prepared, existing);
      if (idempotency.kind === 'duplicate') return duplicateAppend(stream, idempotency, current);
    }
    if (!expectedRevisionHolds(expected, current))
      throw revisionConflict(stream, expected, current);

    if (entry === undefined) {
      const kept = this.options.keeps(stream);
      entry = {
        revision: NO_STREAM,
        events: kept ? [] : undefined,
        spans: kept ? undefined : [],
        keyed: kept ? new Map() : undefined,
      };
      this.streams.set(stream, entry);
    }
    const recordedAt = this.options.now().toISOString();
    const stored = prepared.map((event) => {
      entry.revision += 1;
      this.head += 1;
      // Parsed from the serialized form, as the memory store does: what any adapter returns.
      const metadata = JSON.parse(event.metadataJson) as NewEventMetadata;
      const one: StoredEvent = deepFreeze({
        id: event.id,
        stream,
        revision: entry.revision,
        position: this.head,
        type: event.type,
        data: JSON.parse(event.dataJson) as StoredEvent['data'],
        metadata: { ...metadata, recorded_at: recordedAt },
      });
      if (entry.events !== undefined) entry.events.push(one);
      else this.spillEvent(entry, one);
      if (event.idempotencyKey !== undefined) entry.keyed?.set(event.idempotencyKey, one);
      return one;
    });
    this.options.onAppended(stored);
    return {
      stream,
      revisions: stored.map((e) => e.revision),
      positions: stored.map((e) => e.position),
      nextExpectedRevision: entry.revision,
      duplicate: false,
    };
  }

  // eslint-disable-next-line @typescript-eslint/require-await -- async turns a throw into a rejection
  async readStream(stream: string, options: ReadStreamOptions = {}): Promise<StoredEvent[]> {
    this.assertOpen();
    assertStreamName(stream);
    const from = options.fromRevision ?? 0;
    const entry = this.streams.get(stream);
    if (entry === undefined || from > entry.revision) return [];
    const until = Math.min(
      entry.revision + 1,
      options.limit === undefined ? Infinity : from + options.limit,
    );
    if (entry.events !== undefined) return entry.events.slice(from, until);
    return this.readSpilled(entry, from, until);
  }

  /** Buffers an event for the scratch file, writing the buffer out once it holds 1 MiB. */
  private spillEvent(entry: StreamEntry, event: StoredEvent): void {
    this.spill ??= (() => {
      const dir = mkdtempSync(join(tmpdir(), 'ledger-simulation-'));
      const fd = openSync(join(dir, 'events.jsonl'), 'w+');
      // Unlinked at once, read and written through its descriptor: nothing is left behind
      // however the process ends (Ctrl-C included), and the space is freed when it does.
      rmSync(dir, { recursive: true, force: true });
      return { fd, size: 0, pending: [], pendingBytes: 0 };
    })();
    const text = `${JSON.stringify(event)}\n`;
    const length = Buffer.byteLength(text);
    entry.spans!.push(this.spill.size + this.spill.pendingBytes, length);
    this.spill.pending.push(text);
    this.spill.pendingBytes += length;
    if (this.spill.pendingBytes >= 1 << 20) this.flushSpill();
  }

  private flushSpill(): void {
    const spill = this.spill;
    if (spill === undefined || spill.pendingBytes === 0) return;
    const buffer = Buffer.from(spill.pending.join(''));
    for (let written = 0; written < buffer.length;)
      written += writeSync(
        spill.fd,
        buffer,
        written,
        buffer.length - written,
        spill.size + written,
      );
    spill.size += buffer.length;
    spill.pending = [];
    spill.pendingBytes = 0;
  }

  private readSpilled(entry: StreamEntry, from: number, until: number): StoredEvent[] {
    this.flushSpill();
    const spans = entry.spans!;
    const events: StoredEvent[] = [];
    for (let revision = from; revision < until; revision += 1) {
      const offset = spans[2 * revision]!;
      const length = spans[2 * revision + 1]!;
      const buffer = Buffer.alloc(length);
      for (let read = 0; read < length;)
        read += readSync(this.spill!.fd, buffer, read, length - read, offset + read);
      events.push(deepFreeze(JSON.parse(buffer.toString('utf8')) as StoredEvent));
    }
    return events;
  }

  readAll(): Promise<StoredEvent[]> {
    return Promise.reject(new Error('The simulation store keeps no global log.'));
  }

  subscribe(): AsyncIterableIterator<StoredEvent> {
    throw new Error('The simulation store keeps no global log.');
  }

  // eslint-disable-next-line @typescript-eslint/require-await -- async turns a throw into a rejection
  async headPosition(): Promise<Position> {
    this.assertOpen();
    return this.head;
  }

  // eslint-disable-next-line @typescript-eslint/require-await -- async turns a throw into a rejection
  async ping(): Promise<void> {
    this.assertOpen();
  }

  // eslint-disable-next-line @typescript-eslint/require-await -- appends commit within the call
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    if (this.spill !== undefined) {
      closeSync(this.spill.fd);
    }
  }

  private assertOpen(): void {
    if (this.closed) throw new LedgerError('STORE_CLOSED');
  }
}
