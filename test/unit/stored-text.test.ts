import { describe, expect, it } from 'vitest';
import {
  MAX_STORED_KEY_BYTES,
  decodedKey,
  decodedValue,
  parseStoredRow,
  storedKey,
  storedRowJson,
  storedText,
} from '../../src/read-models/stored-text.ts';
import { cjk } from '../support/text.ts';

const tricky = [
  'plain',
  '',
  '\u0000',
  '\u0081',
  '\u00810',
  '\u00811',
  '\u00812',
  'a\u0000b\u0081c',
  '\\u0000',
  '\\\u0000',
  '"\u0000"',
  '😀\u0000😀',
];

describe('stored text', () => {
  it('stores rows with U+0000 and the escape character anywhere, and reads them back exactly', () => {
    for (const text of tricky) {
      const row = { summary: text, list: [text, { [text]: text }], n: 1, none: null };
      const json = storedRowJson(JSON.stringify(row));
      // What jsonb refuses (the escape \u0000 outside an escaped backslash) never remains.
      expect(/(^|[^\\])(\\\\)*\\u0000/.test(json)).toBe(false);
      expect(parseStoredRow(json)).toEqual(row);
      expect(decodedValue(JSON.parse(json))).toEqual(row);
    }
  });

  it('leaves ordinary rows alone: the same string, the same object', () => {
    const json = JSON.stringify({ summary: 'café ✓ 😀 \\u0000 as text', n: [1, 2] });
    expect(storedRowJson(json)).toBe(json);
    const row = JSON.parse(json) as unknown;
    expect(decodedValue(row)).toBe(row);
  });

  it('keeps a __proto__ key a plain key when decoding', () => {
    const row = JSON.parse('{"__proto__": {"x": "\u0081\u0030"}}') as unknown;
    const decoded = decodedValue(row) as Record<string, unknown>;
    expect(Object.getPrototypeOf(decoded)).toBe(Object.prototype);
    expect(Object.keys(decoded)).toEqual(['__proto__']);
    expect(decoded['__proto__']).toEqual({ x: '\u0000' });
  });

  it('stores keys distinctly, within the byte bound, and decodes the ones that fit', () => {
    const long = [
      cjk(512, 1),
      cjk(512, 2),
      `${cjk(300, 3)}\u0000`,
      `${cjk(300, 3)}\u0081`,
      '\u0000'.repeat(512),
      '\u0081'.repeat(512),
      '😀'.repeat(256),
      'a'.repeat(769),
      'a'.repeat(768),
    ];
    const keys = [...tricky, ...long, JSON.stringify([cjk(512, 1), cjk(512, 2)])];
    const stored = keys.map(storedKey);
    expect(new Set(stored).size).toBe(keys.length);
    for (const [i, key] of keys.entries()) {
      const s = stored[i]!;
      expect(Buffer.byteLength(s)).toBeLessThanOrEqual(MAX_STORED_KEY_BYTES);
      expect(s).not.toContain('\u0000');
      expect(Buffer.from(s, 'utf8').toString('utf8')).toBe(s); // no split surrogate pair
      const back = decodedKey(s);
      if (back !== undefined) expect(back).toBe(key);
      else expect(Buffer.byteLength(storedText(key))).toBeGreaterThan(MAX_STORED_KEY_BYTES);
    }
    expect(storedKey('a'.repeat(768))).toBe('a'.repeat(768));
    expect(decodedKey(storedKey('a'.repeat(769)))).toBeUndefined();
  });

  it('never stores a string in more than 3 bytes per UTF-16 unit', () => {
    for (const text of ['\u0000'.repeat(100), '\u0081'.repeat(100), cjk(100, 9), '😀'.repeat(50)]) {
      expect(Buffer.byteLength(storedText(text))).toBeLessThanOrEqual(3 * text.length);
    }
  });
});
