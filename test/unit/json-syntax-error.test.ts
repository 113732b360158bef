import { describe, expect, it } from 'vitest';
import { findJsonSyntaxError } from '../../src/cli/json-syntax-error.ts';

describe('findJsonSyntaxError', () => {
  it.each([
    ['[]'],
    ['  {"a": [1, -2.5e+3, 0, true, false, null, "x\\u00e9\\n"]} \n'],
    ['"just a string"'],
    ['{"nested": {"deeper": [[], {}]}}'],
  ])('finds nothing wrong in %j, as JSON.parse', (text) => {
    expect(() => JSON.parse(text) as unknown).not.toThrow();
    expect(findJsonSyntaxError(text)).toBeUndefined();
  });

  it.each([
    ['', { line: 1, column: 1, found: 'end of file' }],
    ['[1,]', { line: 1, column: 4, found: 'an unexpected character' }],
    ['[\n  {"a": 1,}\n]', { line: 2, column: 11, found: 'an unexpected character' }],
    ['{"a": "open\n"}', { line: 1, column: 12, found: 'a line break' }],
    ['[01]', { line: 1, column: 3, found: 'an unexpected character' }],
    ["{'a': 1}", { line: 1, column: 2, found: 'an unexpected character' }],
    ['[1] [2]', { line: 1, column: 5, found: 'an unexpected character' }],
    ['{"a": tru}', { line: 1, column: 10, found: 'an unexpected character' }],
    ['[\n1,\n2', { line: 3, column: 2, found: 'end of file' }],
    ['"\\x"', { line: 1, column: 3, found: 'an unexpected character' }],
  ])('locates the error in %j where JSON.parse fails', (text, where) => {
    expect(() => JSON.parse(text) as unknown).toThrow(SyntaxError);
    expect(findJsonSyntaxError(text)).toEqual(where);
  });
});
