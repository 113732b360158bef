import * as crypto from 'node:crypto';
import { sameJson } from '../audit/canonical-json.ts';
import { DEFAULT_MAX_EVENT_BYTES } from '../defaults.ts';
import { LedgerError } from '../errors.ts';
import type { JsonObject } from '../json.ts';
import type {
  AppendOptions,
  AppendResult,
  ExpectedRevision,
  NewEvent,
  NewEventMetadata,
  Position,
  Revision,
} from './port.ts';

/*
 * Adapter-independent rules of an append: argument validation, size limits, deterministic event
 * ids, expected-revision checks and idempotency resolution. Every adapter calls these, so the
 * contract behaves the same whichever store is behind it.
 */

export { DEFAULT_MAX_EVENT_BYTES };

const MAX_STREAM_NAME = 512;
const MAX_EVENT_TYPE = 256;
/** Namespace (RFC 9562 UUID) for deterministic event ids derived from (stream, idempotency key). */
const EVENT_ID_NAMESPACE = Buffer.from('6f1c8e0a4c1d5b7e9a513a2f4b8c9d10', 'hex');
/** Metadata an appender may set; `recorded_at` is the store's. */
const METADATA_KEYS = new Set([
  'trace_id',
  'idempotency_key',
  'causation_id',
  'correlation_id',
  'actor',
]);

/** An event validated and serialized once, ready for any adapter to write. */
export interface PreparedEvent {
  id: string;
  type: string;
  data: JsonObject;
  /** `data` serialized exactly as it will be stored. */
  dataJson: string;
  metadata: NewEventMetadata;
  /** `metadata` serialized, without the `recorded_at` the store adds at commit. */
  metadataJson: string;
  idempotencyKey: string | undefined;
}

/** Revision of a stream that does not exist yet. */
export const NO_STREAM = -1;

/**
 * `crypto.hash` (Node 20.12 and later): a third cheaper than a Hash object for a short input, and
 * every keyed append hashes once. Absent on older Node 20 releases.
 */
const oneShotHash = (
  crypto as { hash?: (algorithm: string, data: Buffer, encoding: 'buffer') => Buffer }
).hash;

/**
 * Event id: deterministic for keyed events, so a retry carries the same id on every adapter
 * (EventStoreDB deduplicates on it), random otherwise.
 */
export function eventIdFor(stream: string, idempotencyKey: string | undefined): string {
  if (idempotencyKey === undefined) return crypto.randomUUID();
  // UUID version 5 (RFC 9562 section 5.5): SHA-1 of namespace and name, version and variant set.
  const name = Buffer.from(`${stream}\u0000${idempotencyKey}`);
  const hash = oneShotHash
    ? oneShotHash('sha1', Buffer.concat([EVENT_ID_NAMESPACE, name]), 'buffer')
    : crypto.createHash('sha1').update(EVENT_ID_NAMESPACE).update(name).digest();
  hash[6] = (hash[6]! & 0x0f) | 0x50;
  hash[8] = (hash[8]! & 0x3f) | 0x80;
  const hex = hash.toString('hex', 0, 16);
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`;
}

/**
 * The checks every adapter runs on an append call before its own work: the expected revision
 * (default `any`) and the events, validated and serialized. Throws `INVALID_ARGUMENT` or
 * `EVENT_TOO_LARGE`.
 */
export function checkAppend(
  stream: string,
  events: readonly NewEvent[],
  options: AppendOptions,
  maxEventBytes: number,
): { expected: ExpectedRevision; prepared: PreparedEvent[] } {
  const expected = options.expectedRevision ?? 'any';
  assertExpectedRevision(expected);
  return { expected, prepared: prepareAppend(stream, events, maxEventBytes) };
}

/** The answer to an append that was a retry: the original revisions and positions, nothing new. */
export function duplicateAppend(
  stream: string,
  outcome: { revisions: Revision[]; positions: Position[] },
  current: Revision,
): AppendResult {
  return {
    stream,
    revisions: outcome.revisions,
    positions: outcome.positions,
    nextExpectedRevision: current,
    duplicate: true,
  };
}

/** Validates an append call and serializes its events. Throws `INVALID_ARGUMENT` or `EVENT_TOO_LARGE`. */
export function prepareAppend(
  stream: string,
  events: readonly NewEvent[],
  maxEventBytes: number,
): PreparedEvent[] {
  assertStreamName(stream);
  // Checked through `unknown`: Array.isArray would narrow a readonly array to any[].
  const list: unknown = events;
  if (!Array.isArray(list) || events.length === 0) {
    throw new LedgerError('INVALID_ARGUMENT', 'An append needs at least one event.', { stream });
  }
  const keys = new Set<string>();
  return events.map((event, index) => {
    const type: unknown = event.type;
    if (typeof type !== 'string' || type.length === 0 || type.length > MAX_EVENT_TYPE) {
      const message = `Event ${index} needs a type of 1 to ${MAX_EVENT_TYPE} characters.`;
      throw new LedgerError('INVALID_ARGUMENT', message, { stream, index });
    }
    if (!isPlainObject(event.data)) {
      const message = `Event ${index} data must be a JSON object.`;
      throw new LedgerError('INVALID_ARGUMENT', message, { stream, index });
    }
    assertJson(event.data, `events[${index}].data`);
    const metadata = event.metadata ?? {};
    assertMetadata(metadata, stream, index);
    const key = metadata.idempotency_key;
    if (key !== undefined) {
      if (keys.has(key)) {
        const message = 'Two events of one append share an idempotency key.';
        throw new LedgerError('INVALID_ARGUMENT', message, { stream, idempotency_key: key });
      }
      keys.add(key);
    }
    const dataJson = JSON.stringify(event.data);
    const metadataJson = JSON.stringify(metadata);
    const bytes = Buffer.byteLength(dataJson) + Buffer.byteLength(metadataJson);
    if (bytes > maxEventBytes) {
      const message = `Event ${index} is ${bytes} bytes; the limit is ${maxEventBytes}.`;
      throw new LedgerError('EVENT_TOO_LARGE', message, {
        stream,
        index,
        bytes,
        limit: maxEventBytes,
      });
    }
    return {
      id: eventIdFor(stream, key),
      type,
      data: event.data,
      dataJson,
      metadata,
      metadataJson,
      idempotencyKey: key,
    };
  });
}

/** Metadata is a flat object of the known keys with non-empty string values (as schemas/stored-event.ts says). */
function assertMetadata(
  metadata: unknown,
  stream: string,
  index: number,
): asserts metadata is NewEventMetadata {
  if (!isPlainObject(metadata)) {
    throw new LedgerError('INVALID_ARGUMENT', `Event ${index} metadata must be an object.`, {
      stream,
      index,
    });
  }
  for (const [name, value] of Object.entries(metadata)) {
    if (value === undefined) continue;
    if (!METADATA_KEYS.has(name)) {
      throw new LedgerError(
        'INVALID_ARGUMENT',
        `Event ${index} metadata has an unknown key ${JSON.stringify(name)}.`,
        {
          stream,
          index,
          key: name,
          allowed: [...METADATA_KEYS],
        },
      );
    }
    const max = name === 'idempotency_key' ? 256 : 1024;
    if (
      typeof value !== 'string' ||
      value.length === 0 ||
      value.length > max ||
      !value.isWellFormed()
    ) {
      throw new LedgerError(
        'INVALID_ARGUMENT',
        `Event ${index} metadata ${name} must be a string of 1 to ${max} characters.`,
        {
          stream,
          index,
          key: name,
        },
      );
    }
  }
}

export function assertStreamName(stream: unknown): asserts stream is string {
  if (typeof stream !== 'string' || stream.length === 0 || stream.length > MAX_STREAM_NAME) {
    throw new LedgerError(
      'INVALID_ARGUMENT',
      `A stream name has 1 to ${MAX_STREAM_NAME} characters.`,
      { stream },
    );
  }
  // `$` streams are EventStoreDB's system streams; reserving them keeps every adapter alike.
  if (stream.startsWith('$')) {
    throw new LedgerError('INVALID_ARGUMENT', 'Stream names starting with "$" are reserved.', {
      stream,
    });
  }
}

/** Checks an expected revision against the stream's current one (`NO_STREAM` when absent). */
export function expectedRevisionHolds(expected: ExpectedRevision, current: Revision): boolean {
  switch (expected) {
    case 'any':
      return true;
    case 'no_stream':
      return current === NO_STREAM;
    case 'stream_exists':
      return current !== NO_STREAM;
    default:
      return current === expected;
  }
}

export function assertExpectedRevision(expected: unknown): asserts expected is ExpectedRevision {
  if (expected === 'any' || expected === 'no_stream' || expected === 'stream_exists') return;
  if (typeof expected === 'number' && Number.isSafeInteger(expected) && expected >= 0) return;
  throw new LedgerError(
    'INVALID_ARGUMENT',
    'expectedRevision is any, no_stream, stream_exists or a revision >= 0.',
    {
      expectedRevision: expected,
    },
  );
}

export function revisionConflict(
  stream: string,
  expected: ExpectedRevision,
  current: Revision,
): LedgerError {
  return new LedgerError(
    'EXPECTED_REVISION_CONFLICT',
    `Stream ${stream} is at ${current === NO_STREAM ? 'no_stream' : `revision ${current}`}, expected ${String(expected)}.`,
    { stream, expected, actual: current === NO_STREAM ? 'no_stream' : current },
  );
}

/** An event the stream already holds under an idempotency key. */
export interface KeyedEvent {
  revision: Revision;
  position: Position;
  type: string;
  data: unknown;
}

export type IdempotencyOutcome =
  { kind: 'new' } | { kind: 'duplicate'; revisions: Revision[]; positions: Position[] };

/**
 * Decides whether an append is new or a retry, given the stream's events that hold any of its keys.
 * A retry must match the original event for event (same type, same canonical data); a partial
 * or altered retry is `IDEMPOTENCY_KEY_REUSED`, because appending it would record a second,
 * different fact under one key.
 */
export function resolveIdempotency(
  stream: string,
  events: readonly PreparedEvent[],
  existing: ReadonlyMap<string, KeyedEvent>,
): IdempotencyOutcome {
  if (existing.size === 0) return { kind: 'new' };
  const revisions: Revision[] = [];
  const positions: Position[] = [];
  for (const event of events) {
    const original =
      event.idempotencyKey === undefined ? undefined : existing.get(event.idempotencyKey);
    if (original === undefined) {
      throw new LedgerError(
        'IDEMPOTENCY_KEY_REUSED',
        'Part of this append was already appended; retry it whole.',
        {
          stream,
          known_keys: [...existing.keys()],
        },
      );
    }
    if (original.type !== event.type || !sameJson(original.data, event.data)) {
      throw new LedgerError('IDEMPOTENCY_KEY_REUSED', undefined, {
        stream,
        idempotency_key: event.idempotencyKey,
        original_revision: original.revision,
        original_position: original.position,
      });
    }
    revisions.push(original.revision);
    positions.push(original.position);
  }
  return { kind: 'duplicate', revisions, positions };
}

function isPlainObject(value: unknown): value is JsonObject {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return false;
  const proto = Object.getPrototypeOf(value) as unknown;
  return proto === Object.prototype || proto === null;
}

/**
 * Rejects values JSON would silently change (NaN becomes null, undefined vanishes, a Date
 * becomes a string), so what is read back is what was appended.
 */
/** Nesting deeper than this is refused: JSON.stringify would exhaust the stack long before PostgreSQL minds. */
const MAX_JSON_DEPTH = 256;

function assertJson(value: unknown, path: string, depth = 0): void {
  if (depth > MAX_JSON_DEPTH) {
    throw new LedgerError(
      'INVALID_ARGUMENT',
      `${path} nests deeper than ${MAX_JSON_DEPTH} levels.`,
      { path },
    );
  }
  switch (typeof value) {
    case 'string':
      // A lone surrogate is not Unicode text: it cannot be stored as UTF-8 and would not round-trip.
      if (value.isWellFormed()) return;
      break;
    case 'boolean':
      return;
    case 'number':
      if (Number.isFinite(value)) return;
      break;
    case 'object':
      if (value === null) return;
      if (Array.isArray(value)) {
        // An index loop, not forEach: forEach skips the holes of a sparse array, which JSON turns into null.
        for (let i = 0; i < value.length; i += 1) assertJson(value[i], `${path}[${i}]`, depth + 1);
        return;
      }
      if (isPlainObject(value)) {
        for (const key of Object.keys(value)) {
          if (!key.isWellFormed()) {
            throw new LedgerError(
              'INVALID_ARGUMENT',
              `${path} has a key that is not Unicode text.`,
              { path },
            );
          }
          assertJson(value[key], `${path}.${key}`, depth + 1);
        }
        return;
      }
      break;
  }
  throw new LedgerError('INVALID_ARGUMENT', `${path} is not a JSON value.`, { path });
}
