import { v5, validate, version } from 'uuid';
import { describe, expect, it } from 'vitest';
import { LedgerError, type ErrorCode } from '../../src/errors.ts';
import {
  NO_STREAM,
  eventIdFor,
  expectedRevisionHolds,
  prepareAppend,
  resolveIdempotency,
  revisionConflict,
  type KeyedEvent,
  type PreparedEvent,
} from '../../src/store/append-plan.ts';
import type { NewEvent } from '../../src/store/port.ts';

const NAMESPACE = '6f1c8e0a-4c1d-5b7e-9a51-3a2f4b8c9d10';
const LIMIT = 1024 * 1024;

/** Runs `fn`, expects a LedgerError with `code`, returns it. */
function expectLedgerError(fn: () => unknown, code: ErrorCode): LedgerError {
  let thrown: unknown;
  try {
    fn();
  } catch (error) {
    thrown = error;
  }
  expect(thrown).toBeInstanceOf(LedgerError);
  const error = thrown as LedgerError;
  expect(error.code).toBe(code);
  return error;
}

function one(
  event: Omit<Partial<NewEvent>, 'data'> & { data: unknown },
  limit = LIMIT,
): PreparedEvent {
  const [prepared] = prepareAppend('stream-1', [{ type: 't', ...event } as NewEvent], limit);
  return prepared!;
}

function invalid(event: Omit<Partial<NewEvent>, 'data'> & { data: unknown }): LedgerError {
  return expectLedgerError(() => one(event), 'INVALID_ARGUMENT');
}

describe('eventIdFor', () => {
  const cases: [string, string][] = [
    ['mission-m1', 'cb-1'],
    ['s', ''],
    ['ストリーム', 'ключ-🔑'],
    ['mission-é', 'idem\u00e9\u0301'],
    ['a'.repeat(512), 'k'.repeat(256)],
  ];

  it.each(cases)('is the RFC 9562 v5 UUID of stream NUL key (%s)', (stream, key) => {
    const id = eventIdFor(stream, key);
    expect(id).toBe(v5(`${stream}\u0000${key}`, NAMESPACE));
    expect(version(id)).toBe(5);
    expect(eventIdFor(stream, key)).toBe(id);
  });

  it('differs per stream and per key, and the NUL separator keeps pairs apart', () => {
    const ids = new Set([
      eventIdFor('s1', 'k'),
      eventIdFor('s2', 'k'),
      eventIdFor('s1', 'k2'),
      eventIdFor('ab', 'c'),
      eventIdFor('a', 'bc'),
    ]);
    expect(ids.size).toBe(5);
  });

  it('is a random v4 UUID without a key', () => {
    const a = eventIdFor('s', undefined);
    const b = eventIdFor('s', undefined);
    expect(validate(a)).toBe(true);
    expect(version(a)).toBe(4);
    expect(version(b)).toBe(4);
    expect(a).not.toBe(b);
  });

  it('is what prepareAppend assigns', () => {
    const keyed = one({ data: {}, metadata: { idempotency_key: 'k-1' } });
    expect(keyed.id).toBe(v5('stream-1\u0000k-1', NAMESPACE));
    expect(keyed.idempotencyKey).toBe('k-1');
    const unkeyed = one({ data: {} });
    expect(version(unkeyed.id)).toBe(4);
    expect(unkeyed.idempotencyKey).toBeUndefined();
  });
});

describe('prepareAppend size limit', () => {
  // Non-ASCII on purpose: the limit counts UTF-8 bytes, not UTF-16 code units.
  const data = { text: 'é€🔑'.repeat(10) };
  const metadata = { actor: 'operator:zoë' };
  const bytes =
    Buffer.byteLength(JSON.stringify(data)) + Buffer.byteLength(JSON.stringify(metadata));

  it('counts UTF-8 bytes of the data and metadata JSON', () => {
    const dataJson = JSON.stringify(data);
    expect(Buffer.byteLength(dataJson)).toBeGreaterThan(dataJson.length);
    const prepared = one({ data, metadata }, bytes);
    expect(prepared.dataJson).toBe(dataJson);
    expect(prepared.metadataJson).toBe(JSON.stringify(metadata));
  });

  it('accepts an event exactly at the limit and refuses one byte over it', () => {
    expect(() => one({ data, metadata }, bytes)).not.toThrow();
    const error = expectLedgerError(() => one({ data, metadata }, bytes - 1), 'EVENT_TOO_LARGE');
    expect(error.details).toEqual({ stream: 'stream-1', index: 0, bytes, limit: bytes - 1 });
  });

  it('counts the metadata (an empty one is 2 bytes) and reports the index of the big event', () => {
    const small = { type: 't', data: {} };
    const size = Buffer.byteLength('{"text":"xxxxx"}') + 2;
    const big = { type: 't', data: { text: 'xxxxx' } };
    expect(() => prepareAppend('s', [small, big], size)).not.toThrow();
    const error = expectLedgerError(
      () => prepareAppend('s', [small, small, big], size - 1),
      'EVENT_TOO_LARGE',
    );
    expect(error.details).toMatchObject({ index: 2, bytes: size, limit: size - 1 });
  });
});

describe('prepareAppend metadata', () => {
  it('accepts every known key and keeps metadata as given', () => {
    const metadata = {
      trace_id: 't',
      idempotency_key: 'k',
      causation_id: 'c',
      correlation_id: 'r',
      actor: 'a',
    };
    expect(one({ data: {}, metadata }).metadata).toEqual(metadata);
  });

  it('refuses an unknown key, naming it', () => {
    const error = invalid({ data: {}, metadata: { recorded_at: 'now' } as never });
    expect(error.details).toMatchObject({ stream: 'stream-1', index: 0, key: 'recorded_at' });
    expect(invalid({ data: {}, metadata: { tenant: 'x' } as never }).details).toMatchObject({
      key: 'tenant',
    });
  });

  it.each([
    ['a number', { actor: 7 }],
    ['null', { trace_id: null }],
    ['an object', { correlation_id: { id: 'x' } }],
    ['an empty string', { causation_id: '' }],
    ['an idempotency key of 257 characters', { idempotency_key: 'k'.repeat(257) }],
    ['a value over 1024 characters', { trace_id: 't'.repeat(1025) }],
  ])('refuses %s as a value', (_name, metadata) => {
    const error = invalid({ data: {}, metadata: metadata as never });
    expect(error.details).toMatchObject({ index: 0, key: Object.keys(metadata)[0] });
  });

  it('accepts an idempotency key of exactly 256 characters', () => {
    expect(one({ data: {}, metadata: { idempotency_key: 'k'.repeat(256) } }).idempotencyKey).toBe(
      'k'.repeat(256),
    );
  });

  it('refuses metadata that is not a plain object', () => {
    invalid({ data: {}, metadata: ['x'] as never });
    invalid({ data: {}, metadata: 'x' as never });
  });

  it('refuses two events of one append sharing an idempotency key', () => {
    const metadata = { idempotency_key: 'same' };
    const error = expectLedgerError(
      () =>
        prepareAppend(
          's',
          [
            { type: 'a', data: {}, metadata },
            { type: 'b', data: {}, metadata },
          ],
          LIMIT,
        ),
      'INVALID_ARGUMENT',
    );
    expect(error.details).toMatchObject({ idempotency_key: 'same' });
  });
});

describe('prepareAppend lone surrogates', () => {
  it.each([
    ['a high surrogate alone', 'x\uD800'],
    ['a low surrogate alone', '\uDC00x'],
    ['two high surrogates', '\uD83D\uD83D'],
  ])('refuses %s in a data value, a data key and a metadata value', (_name, bad) => {
    expect(invalid({ data: { s: bad } }).details).toEqual({ path: 'events[0].data.s' });
    expect(invalid({ data: { nested: [{ s: bad }] } }).details).toEqual({
      path: 'events[0].data.nested[0].s',
    });
    expect(invalid({ data: { nested: { [bad]: 1 } } }).details).toEqual({
      path: 'events[0].data.nested',
    });
    expect(invalid({ data: {}, metadata: { idempotency_key: bad } }).details).toMatchObject({
      key: 'idempotency_key',
    });
    invalid({ data: {}, metadata: { actor: bad } });
  });

  it('accepts proper surrogate pairs', () => {
    const prepared = one({ data: { '🔑': '🚀' }, metadata: { idempotency_key: '🔑' } });
    expect(JSON.parse(prepared.dataJson)).toEqual({ '🔑': '🚀' });
  });
});

describe('prepareAppend non-JSON values', () => {
  class Point {
    x = 1;
  }

  it.each([
    ['undefined inside an array', { xs: [1, undefined] }, 'events[0].data.xs[1]'],
    ['Infinity', { deep: { n: Infinity } }, 'events[0].data.deep.n'],
    ['-Infinity in an array', { xs: [[-Infinity]] }, 'events[0].data.xs[0][0]'],
    ['NaN', { n: NaN }, 'events[0].data.n'],
    ['a Map', { m: new Map([['a', 1]]) }, 'events[0].data.m'],
    ['a Set', { s: [new Set([1])] }, 'events[0].data.s[0]'],
    ['a class instance', { p: new Point() }, 'events[0].data.p'],
    ['a Date', { at: new Date(0) }, 'events[0].data.at'],
    ['a bigint', { n: 1n }, 'events[0].data.n'],
    ['a function', { f: () => 1 }, 'events[0].data.f'],
  ])('refuses %s, with its path', (_name, data, path) => {
    expect(invalid({ data }).details).toEqual({ path });
  });

  it('gives the path of the offending event of a multi-event append', () => {
    const error = expectLedgerError(
      () =>
        prepareAppend(
          's',
          [
            { type: 'a', data: { ok: true } },
            { type: 'b', data: { list: [{ v: 1 }, { v: Infinity }] } },
          ],
          LIMIT,
        ),
      'INVALID_ARGUMENT',
    );
    expect(error.details).toEqual({ path: 'events[1].data.list[1].v' });
  });

  it('refuses data that is not a plain object', () => {
    invalid({ data: [1] });
    invalid({ data: null });
    invalid({ data: new Point() });
  });

  it('accepts ordinary JSON, including a null-prototype object', () => {
    const bare = Object.assign(Object.create(null) as Record<string, unknown>, { a: 1 });
    const data = { s: 'x', n: -1.5, b: false, z: null, xs: [1, 'two', [3], { four: 4 }], bare };
    expect(JSON.parse(one({ data }).dataJson)).toEqual({ ...data, bare: { a: 1 } });
  });

  // forEach would skip the holes, and JSON would store each as null.
  it('refuses a sparse array (a hole would read back as null)', () => {
    // eslint-disable-next-line no-sparse-arrays -- the case under test
    expect(invalid({ data: { xs: [1, , 3] } }).details).toEqual({ path: 'events[0].data.xs[1]' });
  });
});

describe('expectedRevisionHolds and revisionConflict', () => {
  it.each([
    ['any', NO_STREAM, true],
    ['any', 4, true],
    ['no_stream', NO_STREAM, true],
    ['no_stream', 0, false],
    ['stream_exists', NO_STREAM, false],
    ['stream_exists', 0, true],
    [0, 0, true],
    [0, NO_STREAM, false],
    [3, 2, false],
    [3, 3, true],
  ] as const)('expected %s at current %s holds: %s', (expected, current, holds) => {
    expect(expectedRevisionHolds(expected, current)).toBe(holds);
  });

  it('describes a conflict with the actual revision, or no_stream', () => {
    const atRevision = revisionConflict('s', 'no_stream', 2);
    expect(atRevision.code).toBe('EXPECTED_REVISION_CONFLICT');
    expect(atRevision.details).toEqual({ stream: 's', expected: 'no_stream', actual: 2 });
    expect(atRevision.message).toContain('revision 2');
    const absent = revisionConflict('s', 5, NO_STREAM);
    expect(absent.details).toEqual({ stream: 's', expected: 5, actual: 'no_stream' });
    expect(absent.message).toContain('no_stream');
  });
});

describe('resolveIdempotency', () => {
  const events = prepareAppend(
    's',
    [
      {
        type: 'b',
        data: { y: [1, { p: 1, q: 2 }], x: 'two' },
        metadata: { idempotency_key: 'k2' },
      },
      { type: 'a', data: { m: 1, n: 2 }, metadata: { idempotency_key: 'k1' } },
    ],
    LIMIT,
  );
  const stored = new Map<string, KeyedEvent>([
    // Stored in the other order, with keys in another order and a number spelled differently.
    ['k1', { revision: 4, position: 40, type: 'a', data: { n: 2, m: 1.0 } }],
    ['k2', { revision: 5, position: 41, type: 'b', data: { x: 'two', y: [1, { q: 2, p: 1 }] } }],
  ]);

  it('is new when no key is held', () => {
    expect(resolveIdempotency('s', events, new Map())).toEqual({ kind: 'new' });
  });

  it('is a duplicate with the original revisions and positions, in the append order', () => {
    expect(resolveIdempotency('s', events, stored)).toEqual({
      kind: 'duplicate',
      revisions: [5, 4],
      positions: [41, 40],
    });
  });

  it('is IDEMPOTENCY_KEY_REUSED when the data differs', () => {
    const changed = new Map(stored);
    changed.set('k1', { revision: 4, position: 40, type: 'a', data: { m: 1, n: 3 } });
    const error = expectLedgerError(
      () => resolveIdempotency('s', events, changed),
      'IDEMPOTENCY_KEY_REUSED',
    );
    expect(error.details).toMatchObject({
      stream: 's',
      idempotency_key: 'k1',
      original_revision: 4,
      original_position: 40,
    });
  });

  it('is IDEMPOTENCY_KEY_REUSED when the type differs', () => {
    const changed = new Map(stored);
    changed.set('k2', { ...stored.get('k2')!, type: 'c' });
    expectLedgerError(() => resolveIdempotency('s', events, changed), 'IDEMPOTENCY_KEY_REUSED');
  });

  it('is IDEMPOTENCY_KEY_REUSED when only part of the append was appended before', () => {
    const partial = new Map([['k1', stored.get('k1')!]]);
    const error = expectLedgerError(
      () => resolveIdempotency('s', events, partial),
      'IDEMPOTENCY_KEY_REUSED',
    );
    expect(error.details).toMatchObject({ stream: 's', known_keys: ['k1'] });
  });

  it('is IDEMPOTENCY_KEY_REUSED when a retry adds an event without a key', () => {
    const withUnkeyed = [...events, ...prepareAppend('s', [{ type: 'c', data: {} }], LIMIT)];
    expectLedgerError(() => resolveIdempotency('s', withUnkeyed, stored), 'IDEMPOTENCY_KEY_REUSED');
  });
});
