/** Where a JSON text first breaks the grammar, for a message that points at it. */
export interface JsonSyntaxError {
  /** 1-based line and column (in UTF-16 code units, as editors count them for BMP text). */
  line: number;
  column: number;
  /** What was found there: `end of file`, `a line break`, or `an unexpected character`. */
  found: string;
}

/**
 * Finds the first syntax error of `text` as JSON (RFC 8259), or undefined when it is valid.
 * Node's JSON.parse names no position for most errors and quotes the text around it, which for a
 * secrets file could be a token; this names only the line and column.
 */
export function findJsonSyntaxError(text: string): JsonSyntaxError | undefined {
  let i = 0;
  const fail = (): never => {
    throw new Stop(i);
  };
  const ws = () => {
    while (i < text.length && ' \t\n\r'.includes(text[i]!)) i += 1;
  };
  const literal = (word: string) => {
    for (const ch of word) {
      if (text[i] !== ch) fail();
      i += 1;
    }
  };
  const string = () => {
    i += 1; // the opening quote
    for (;;) {
      const ch = text[i];
      if (ch === undefined || ch < ' ') fail();
      i += 1;
      if (ch === '"') return;
      if (ch === '\\') {
        const escape = text[i];
        if (escape === 'u') {
          i += 1;
          for (let k = 0; k < 4; k += 1) {
            if (!/[0-9a-fA-F]/.test(text[i] ?? '')) fail();
            i += 1;
          }
        } else if (escape !== undefined && '"\\/bfnrt'.includes(escape)) i += 1;
        else fail();
      }
    }
  };
  const digits = () => {
    if (!/[0-9]/.test(text[i] ?? '')) fail();
    while (/[0-9]/.test(text[i] ?? '')) i += 1;
  };
  const number = () => {
    if (text[i] === '-') i += 1;
    if (text[i] === '0') i += 1;
    else digits();
    if (text[i] === '.') {
      i += 1;
      digits();
    }
    if (text[i] === 'e' || text[i] === 'E') {
      i += 1;
      if (text[i] === '+' || text[i] === '-') i += 1;
      digits();
    }
  };
  const value = (): void => {
    ws();
    const ch = text[i];
    if (ch === '{') {
      i += 1;
      ws();
      if (text[i] === '}') {
        i += 1;
        return;
      }
      for (;;) {
        ws();
        if (text[i] !== '"') fail();
        string();
        ws();
        if (text[i] !== ':') fail();
        i += 1;
        value();
        ws();
        if (text[i] === ',') i += 1;
        else if (text[i] === '}') return void (i += 1);
        else fail();
      }
    }
    if (ch === '[') {
      i += 1;
      ws();
      if (text[i] === ']') {
        i += 1;
        return;
      }
      for (;;) {
        value();
        ws();
        if (text[i] === ',') i += 1;
        else if (text[i] === ']') return void (i += 1);
        else fail();
      }
    }
    if (ch === '"') return string();
    if (ch === 't') return literal('true');
    if (ch === 'f') return literal('false');
    if (ch === 'n') return literal('null');
    if (ch === '-' || /[0-9]/.test(ch ?? '')) return number();
    fail();
  };
  try {
    value();
    ws();
    if (i < text.length) fail();
    return undefined;
  } catch (error) {
    if (!(error instanceof Stop)) throw error;
    return locate(text, error.offset);
  }
}

/** Unwinds the descent to the offset where the grammar broke. */
class Stop extends Error {
  constructor(readonly offset: number) {
    super(`JSON syntax error at offset ${offset}`);
  }
}

function locate(text: string, offset: number): JsonSyntaxError {
  const before = text.slice(0, offset);
  const lineStart = Math.max(before.lastIndexOf('\n'), -1) + 1;
  const ch = text[offset];
  return {
    line: before.split('\n').length,
    column: offset - lineStart + 1,
    found:
      ch === undefined
        ? 'end of file'
        : ch === '\n' || ch === '\r'
          ? 'a line break'
          : 'an unexpected character',
  };
}
