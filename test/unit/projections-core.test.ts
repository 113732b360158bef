import { describe, expect, it } from 'vitest';
import {
  MalformedEventError,
  byCodePoint,
  applyChanges,
  emptyReadModel,
  lookupIn,
  projections,
  replayProjection,
  rowKey,
  snapshot,
  utcHour,
  type ProjectionFold,
  type ReadModel,
} from '../../projections/index.ts';
import { EventLog, MISSION_ID, bind, realisticLog } from './support/projection-given.ts';
import { accepted, dispatched } from './support/mission-given.ts';

type AnyProjection = ProjectionFold<Record<string, unknown>>;
const all = projections as readonly unknown[] as readonly AnyProjection[];

describe('rowKey', () => {
  it('keeps a single string key as is and encodes composite keys as a JSON array', () => {
    expect(rowKey('msn_1')).toBe('msn_1');
    expect(rowKey('coding', 'running')).toBe('["coding","running"]');
    expect(rowKey('a","b')).not.toBe(rowKey('a', 'b'));
  });

  it('is exactly JSON.stringify of the parts, whatever they hold', () => {
    const tricky: (string | number)[][] = [
      ['coding', 'running'],
      ['2026-11-01T10:00:00.000Z', 7, -0, 1e21, 0.1],
      ['quote"', 'back\\slash'],
      ['tab\t', 'nul\u0000', 'del\u007f', 'line\u2028sep'],
      ['\u{1F600}', 'lone\ud800', 'lone\udc00'],
      ['', 'é', 'x'],
      [Number.NaN, 'a'],
      [Infinity],
      [42],
    ];
    for (const parts of tricky) expect(rowKey(...parts)).toBe(JSON.stringify(parts));
  });
});

describe('applyChanges', () => {
  it('returns a new model with upserts and deletes applied, leaving the old one untouched', () => {
    const before = applyChanges(emptyReadModel(), [
      { table: 't', key: 'a', row: { id: 'a', n: 1 } },
      { table: 't', key: 'b', row: { id: 'b', n: 2 } },
    ]);
    const after = applyChanges(before, [
      { table: 't', key: 'a', row: null },
      { table: 't', key: 'b', row: { id: 'b', n: 3 } },
    ]);
    expect(snapshot(before)).toEqual({
      t: [
        { id: 'a', n: 1 },
        { id: 'b', n: 2 },
      ],
    });
    expect(snapshot(after)).toEqual({ t: [{ id: 'b', n: 3 }] });
    expect(lookupIn<{ t: { n: number } }>(after)('t', 'b')?.n).toBe(3);
  });

  it('orders by code point (UTF-8 byte order), not UTF-16 code unit', () => {
    // U+FF5E is one code unit above the surrogates of U+1F600, but a lower code point.
    const keys = ['\u{1F600}', '\uFF5E', 'b', 'B', 'ab', 'a'];
    const utf8 = [...keys].sort((x, y) => Buffer.compare(Buffer.from(x), Buffer.from(y)));
    expect([...keys].sort(byCodePoint)).toEqual(utf8);
    expect(utf8).toEqual(['B', 'a', 'ab', 'b', '\uFF5E', '\u{1F600}']);
  });

  it('snapshots in code-point key order and leaves out emptied tables', () => {
    const model = applyChanges(emptyReadModel(), [
      { table: 'z', key: 'b', row: 2 },
      { table: 'z', key: 'B', row: 1 },
      { table: 'a', key: 'x', row: 0 },
    ]);
    expect(JSON.stringify(snapshot(model))).toBe('{"a":[0],"z":[1,2]}');
    expect(snapshot(applyChanges(model, [{ table: 'a', key: 'x', row: null }]))).toEqual({
      z: [1, 2],
    });
  });
});

describe('utcHour', () => {
  it('buckets an instant into its UTC hour, whatever its offset', () => {
    expect(utcHour('2025-11-20T10:59:59.999Z')).toBe('2025-11-20T10:00:00.000Z');
    expect(utcHour('2025-11-20T00:30:00+01:00')).toBe('2025-11-19T23:00:00.000Z');
  });

  it('gives what Date gives for every form, rolled-over days included', () => {
    const viaDate = (s: string) =>
      `${new Date(Date.parse(s)).toISOString().slice(0, 13)}:00:00.000Z`;
    for (const instant of [
      '2025-11-20T10:59:59.999Z',
      '2025-02-28T23:59:59.999Z',
      '2025-02-29T10:00:00.000Z', // no such day: Date rolls over to March 1
      '2025-02-30T10:00:00.000Z',
      '2025-04-31T23:30:00.000Z',
      '2024-02-29T01:00:00.000Z',
      '2025-12-31T23:59:59.999Z',
      '0000-01-01T00:00:00.000Z',
      '2025-11-20T10:00:00Z',
      '2025-11-20T10:00:00.5Z',
      '2025-11-20T10:00:00.000+05:30',
    ]) {
      expect(utcHour(instant)).toBe(viaDate(instant));
    }
  });
});

describe.each(all.map((p) => [p.name, p] as const))('projection %s', (_name, projection) => {
  it('is deterministic: the same events twice give deep-equal rows and the same JSON', () => {
    const first = snapshot(replayProjection(projection, realisticLog().events));
    const second = snapshot(replayProjection(projection, realisticLog().events));
    expect(second).toEqual(first);
    expect(JSON.stringify(second)).toBe(JSON.stringify(first));
    expect(Object.keys(first).length).toBeGreaterThan(0);
  });

  it('rebuilding in two runs from a checkpoint gives the rows of one run', () => {
    const { events } = realisticLog();
    const half = replayProjection(projection, events.slice(0, 7));
    const resumed = replayProjection(projection, events.slice(7), half);
    expect(snapshot(resumed)).toEqual(snapshot(replayProjection(projection, events)));
  });

  it('does not mutate the rows it is given', () => {
    const { events } = realisticLog();
    const model = replayProjection(projection, events.slice(0, 9));
    const frozen = JSON.stringify(snapshot(model));
    replayProjection(projection, events.slice(9), model);
    expect(JSON.stringify(snapshot(model))).toBe(frozen);
  });

  it('ignores unknown event types and other streams', () => {
    const log = realisticLog();
    const model: ReadModel = replayProjection(projection, log.events);
    const unknown = log.append(`mission-${MISSION_ID}`, { type: 'mission.teleported', data: {} });
    expect(projection.handles('mission.teleported')).toBe(false);
    expect(projection.apply(unknown, lookupIn<Record<string, unknown>>(model))).toEqual([]);
    const elsewhere = log.append('audit-checkpoints', { type: 'mission.completed', data: {} });
    expect(projection.apply(elsewhere, lookupIn<Record<string, unknown>>(model))).toEqual([]);
  });

  it('throws a MalformedEventError naming the position when handled data fails its schema', () => {
    const log = new EventLog();
    log.mission(MISSION_ID, dispatched());
    bind(log, MISSION_ID, '2025-11-20T08:58:43.000Z');
    const model = replayProjection(projection, log.events);
    const candidates = [
      log.mission(MISSION_ID, { type: 'mission.progress', data: { received_at: 42 } }),
      log.append('vp-session-ws_000000000000000000000000', {
        type: 'vp_session.mission_bound',
        data: { mission_id: 7 },
      }),
    ].filter((event) => projection.handles(event.type));
    expect(candidates.length).toBeGreaterThan(0);
    for (const event of candidates) {
      const apply = () => projection.apply(event, lookupIn<Record<string, unknown>>(model));
      expect(apply).toThrow(MalformedEventError);
      expect(apply).toThrow(`position ${event.position}`);
    }
  });

  it('documents a primary key for every table it writes', () => {
    const model = replayProjection(projection, realisticLog().events);
    for (const table of model.keys()) expect(Object.keys(projection.tables)).toContain(table);
    for (const spec of Object.values(projection.tables)) {
      expect(spec.primaryKey.length).toBeGreaterThan(0);
    }
  });
});

it('mission events after a dispatch never throw when valid (accepted sequence)', () => {
  const log = new EventLog();
  log.mission(MISSION_ID, dispatched(), accepted('mission.accepted'), accepted('mission.failed'));
  for (const projection of all)
    expect(() => replayProjection(projection, log.events)).not.toThrow();
});
