import {
  ANY,
  NO_STREAM as ESDB_NO_STREAM,
  START,
  STREAM_EXISTS,
  jsonEvent,
  type AllStreamResolvedEvent,
  type AppendExpectedRevision,
  type CurrentRevision,
  type EventData,
  type Position as EsdbPosition,
  type ReadPosition,
  type ResolvedEvent,
} from '@eventstore/db-client';
import { LedgerError } from '../../errors.ts';
import { storedEventSchema, type EventMetadata } from '../../../schemas/stored-event.ts';
import { NO_STREAM, type PreparedEvent } from '../append-plan.ts';
import type { ExpectedRevision, Position, Revision, StoredEvent } from '../port.ts';

/*
 * Pure translations between the ledger's port types and @eventstore/db-client's types. Nothing
 * here talks to a server, so all of it is unit-tested (test/unit/esdb-mapping.test.ts).
 *
 * Global positions: ESDB gives every event in `$all` a `{ commit, prepare }` pair. The port's
 * `Position` is the PREPARE position, the log offset of the event's own record: unique per event
 * and increasing in `$all` order. For events appended through the gRPC API (the only way this
 * adapter writes) the server reports commit === prepare, because every event of an append is an
 * implicitly committed prepare record (EventStoreDB `AllReader`: `new CommitEventRecord(record,
 * record.LogPosition)`). A commit position shared by several events only exists for the legacy
 * TCP API's explicit transactions, which this ledger never writes.
 */

/** Either shape of a read result: from a stream read or from a `$all` read or subscription. */
export type AnyResolvedEvent = ResolvedEvent | AllStreamResolvedEvent;

/** The caller's expectation as the client's constant, passed straight to ESDB on unkeyed appends. */
export function toEsdbExpectedRevision(expected: ExpectedRevision): AppendExpectedRevision {
  switch (expected) {
    case 'any':
      return ANY;
    case 'no_stream':
      return ESDB_NO_STREAM;
    case 'stream_exists':
      return STREAM_EXISTS;
    default:
      return BigInt(expected);
  }
}

/**
 * An exact expectation for the revision the adapter just read (`NO_STREAM` when the stream is
 * absent). Keyed appends pin it so that no write can slip between the idempotency check and the
 * append.
 */
export function pinnedRevision(current: Revision): AppendExpectedRevision {
  return current === NO_STREAM ? ESDB_NO_STREAM : BigInt(current);
}

/** The client's view of a stream's revision as the port's (`NO_STREAM` when absent). */
export function fromCurrentRevision(current: CurrentRevision): Revision {
  return current === ESDB_NO_STREAM ? NO_STREAM : toSafeNumber(current, 'revision');
}

/** The client's expected revision as the port's, for error details. */
export function fromEsdbExpectedRevision(expected: AppendExpectedRevision): ExpectedRevision {
  return typeof expected === 'bigint' ? toSafeNumber(expected, 'revision') : expected;
}

/**
 * Where a forward `$all` read or subscription resumes for a port checkpoint. Reads from
 * `{ commit: p, prepare: p }` are inclusive, so callers drop events at or before `p`.
 */
export function toReadPosition(after: Position): ReadPosition {
  return after === 0 ? START : { commit: BigInt(after), prepare: BigInt(after) };
}

/** Orders two `$all` positions the way the server orders the log: commit first, then prepare. */
export function comparePositions(a: EsdbPosition, b: EsdbPosition): number {
  if (a.commit !== b.commit) return a.commit < b.commit ? -1 : 1;
  if (a.prepare !== b.prepare) return a.prepare < b.prepare ? -1 : 1;
  return 0;
}

/**
 * The `$all` position of a read result, or `undefined` when the server sent none. Stream reads
 * carry it from server 22.6 on; before that only the commit position may be present, which for
 * gRPC-written events equals the prepare position (see the note at the top of this file).
 */
export function esdbPositionOf(resolved: AnyResolvedEvent): EsdbPosition | undefined {
  const position = resolved.event?.position;
  if (position !== undefined) return position;
  const commit = resolved.commitPosition;
  return commit === undefined ? undefined : { commit, prepare: commit };
}

/** Like {@link esdbPositionOf}, but a record without a position is an error. */
export function requireEsdbPosition(resolved: AnyResolvedEvent): EsdbPosition {
  const position = esdbPositionOf(resolved);
  if (position === undefined) {
    throw corrupt(
      'EventStoreDB returned an event without a log position (server older than 22.6?).',
      {
        id: resolved.event?.id,
      },
    );
  }
  return position;
}

/** The port's global position of a read result (its prepare position). */
export function positionOf(resolved: AnyResolvedEvent): Position {
  return toSafeNumber(requireEsdbPosition(resolved).prepare, 'position');
}

/**
 * System records of `$all`: ESDB's own streams (`$stats-...`, `$$metadata`, `$projections-...`)
 * and event types (`$metadata`, link events `$>`). The ledger reserves `$` names, so none of
 * these is a ledger event.
 */
export function isSystemEvent(recorded: { streamId: string; type: string }): boolean {
  return recorded.streamId.startsWith('$') || recorded.type.startsWith('$');
}

/**
 * A read result as the ledger's stored event. Throws `STORE_UNAVAILABLE` when the record is not a
 * ledger event (binary payload, missing `recorded_at`, ...), because handing it on would break
 * every reader's assumptions.
 */
export function toStoredEvent(resolved: AnyResolvedEvent): StoredEvent {
  const recorded = resolved.event;
  if (recorded === undefined) {
    throw corrupt('EventStoreDB returned a link to a missing event.', {});
  }
  if (!recorded.isJson) {
    throw corrupt('EventStoreDB returned a non-JSON event.', eventDetails(recorded));
  }
  const parsed = storedEventSchema.safeParse({
    id: recorded.id,
    stream: recorded.streamId,
    revision: toSafeNumber(recorded.revision, 'revision'),
    position: positionOf(resolved),
    type: recorded.type,
    data: recorded.data,
    metadata: recorded.metadata,
  });
  if (!parsed.success) {
    throw corrupt('EventStoreDB returned an event that is not a ledger event.', {
      ...eventDetails(recorded),
      issues: parsed.error.issues.map((issue) => `${issue.path.join('.')}: ${issue.message}`),
    });
  }
  return parsed.data;
}

/**
 * The event as the client writes it: the deterministic id from `prepareAppend` (so ESDB's own id
 * check sees a retry as one), and the appender's metadata plus the store-stamped `recorded_at`.
 */
export function toEventData(event: PreparedEvent, recordedAt: string): EventData {
  const metadata: EventMetadata = { ...event.metadata, recorded_at: recordedAt };
  return jsonEvent({ id: event.id, type: event.type, data: event.data, metadata });
}

/**
 * Converts the client's 64-bit integers. Log positions are byte offsets, so 2^53 is never reached
 * in practice; failing loudly beats silently rounding a checkpoint.
 */
export function toSafeNumber(value: bigint, what: string): number {
  const number = Number(value);
  if (!Number.isSafeInteger(number)) {
    throw corrupt(`EventStoreDB returned a ${what} beyond 2^53.`, { [what]: value.toString() });
  }
  return number;
}

function eventDetails(recorded: { id: string; streamId: string; revision: bigint }) {
  return { id: recorded.id, stream: recorded.streamId, revision: recorded.revision.toString() };
}

function corrupt(message: string, details: Record<string, unknown>): LedgerError {
  return new LedgerError('STORE_UNAVAILABLE', message, { reason: 'unexpected-record', ...details });
}
