import { describe, expect, it } from 'vitest';
import {
  scopedKey,
  storableInput,
  storedScopedKey,
  textIssues,
} from '../../src/domain/mission/index.ts';
import { RejectionBudget } from '../../src/ledger/rejection-budget.ts';

describe('textIssues', () => {
  it('accepts text, tab, CR and LF, and every finite number', () => {
    expect(textIssues({ a: 'x\ty\r\nz', b: ['é', '😀'], c: { d: -0.5, e: 1e308 } })).toEqual([]);
  });

  it('names every C0 control, lone surrogate and non-finite number by path, keys included', () => {
    expect(
      textIssues({
        summary: 'a\u0000b',
        refs: ['ok', 'bell\u0007'],
        usage: { llm_calls: Infinity },
        'k\u001f': 1,
        s: '\udc00',
      }),
    ).toEqual([
      { path: 'summary', message: expect.stringContaining('U+0000') as unknown },
      { path: 'refs[1]', message: expect.stringContaining('U+0007') as unknown },
      { path: 'usage.llm_calls', message: 'is a number outside the range of JSON numbers' },
      {
        path: 'k\u001f',
        message: expect.stringContaining('key holds the control character U+001F') as unknown,
      },
      { path: 's', message: 'holds a lone surrogate (strings are Unicode text)' },
    ]);
  });

  it('stops at its limit', () => {
    expect(
      textIssues(
        Array.from({ length: 100 }, () => '\u0000'),
        5,
      ),
    ).toHaveLength(5);
  });
});

describe('storableInput', () => {
  it('returns the value itself when the log can hold it as it is', () => {
    const value = { a: ['x\u0000', 1, null, { b: true }] };
    expect(storableInput(value)).toBe(value);
  });

  it('replaces lone surrogates and non-finite numbers, in values and keys, without touching the input', () => {
    const value = { ['\ud800k']: 'v\udfff', n: [NaN, -Infinity, 3] };
    expect(storableInput(value)).toEqual({ '\ufffdk': 'v\ufffd', n: [null, null, 3] });
    expect(value.n[0]).toBeNaN();
  });

  it('masks the credentials of URLs, which must never enter the log', () => {
    expect(
      storableInput({
        callback: { status_url: 'http://user:secret@factory-a/cb' },
        refs: ['https://tok@h.example/x', 'not a url user:x@y', 'mailto:a@b.example'],
      }),
    ).toEqual({
      callback: { status_url: 'http://***@factory-a/cb' },
      refs: ['https://***@h.example/x', 'not a url user:x@y', 'mailto:a@b.example'],
    });
  });
});

describe('scoped idempotency keys', () => {
  const factory = { role: 'factory' as const, id: 'ua-factory-07' };
  const stranger = { role: 'factory' as const, id: 'ua-factory-99' };

  it('differ by kind and by sender, and are stable', () => {
    const key = 'event:m1:accepted';
    expect(scopedKey('callback', factory, key)).toBe(scopedKey('callback', factory, key));
    expect(scopedKey('callback', factory, key)).not.toBe(scopedKey('callback', stranger, key));
    expect(scopedKey('callback', factory, key)).not.toBe(scopedKey('cancel', factory, key));
    expect(scopedKey('callback', factory, key)).toMatch(/^callback:[A-Za-z0-9_-]{43}$/);
  });

  it('reads a stored scoped key as it is, and scopes a raw key recorded by an earlier ledger', () => {
    const scoped = scopedKey('cancel', { role: 'operator', id: 'ops:alice' }, 'c1');
    expect(
      storedScopedKey({ type: 'mission.cancel_requested', metadata: { idempotency_key: scoped } }),
    ).toBe(scoped);
    expect(
      storedScopedKey({
        type: 'mission.cancel_requested',
        metadata: { idempotency_key: 'c1', actor: 'operator:ops:alice' },
      }),
    ).toBe(scoped);
    expect(
      storedScopedKey({
        type: 'mission.progress',
        metadata: { idempotency_key: 'e1', actor: 'factory:ua-factory-07' },
      }),
    ).toBe(scopedKey('callback', factory, 'e1'));
    expect(storedScopedKey({ type: 'mission.progress', metadata: {} })).toBeUndefined();
  });
});

describe('RejectionBudget', () => {
  it("allows a minute's worth at once, refills continuously, and says how long to wait", () => {
    let now = 0;
    const budget = new RejectionBudget({ perMinute: 2, bytesPerMinute: 1000 }, () => now);
    expect(budget.take('a', 10)).toBeUndefined();
    expect(budget.take('a', 10)).toBeUndefined();
    expect(budget.take('a', 10)).toBe(30);
    expect(budget.take('b', 10)).toBeUndefined();
    now = 30_000;
    expect(budget.take('a', 10)).toBeUndefined();
    expect(budget.take('a', 10)).toBe(30);
  });

  it('counts bytes: a large rejection waits for its bytes, one over the burst for the whole burst', () => {
    let now = 0;
    const budget = new RejectionBudget({ perMinute: 100, bytesPerMinute: 1000 }, () => now);
    expect(budget.take('a', 900)).toBeUndefined();
    expect(budget.take('a', 400)).toBe(18);
    now = 18_000;
    expect(budget.take('a', 400)).toBeUndefined();
    now = 200_000;
    expect(budget.take('a', 5000)).toBeUndefined();
    expect(budget.take('a', 5000)).toBe(60);
  });
});
