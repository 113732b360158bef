/**
 * What the contract allows in the strings and numbers of an input, beyond its schema. Seed 002's
 * strings are text: Unicode without the C0 control characters (U+0000 to U+001F) other than tab,
 * line feed and carriage return, and without lone surrogates. Its numbers are JSON numbers, so
 * finite. The rule applies to every string of an input, object keys included, and is checked at
 * the door (decide), never on stored events: the log may hold inputs accepted before the rule, and
 * the read side stores whatever the log holds.
 */

/** One place where an input breaks the text rule: a JSONPath-like path and what is wrong. */
export interface TextIssue {
  path: string;
  message: string;
}

// eslint-disable-next-line no-control-regex -- matching control characters is the point
const FORBIDDEN_CONTROL = /[\u0000-\u0008\u000B\u000C\u000E-\u001F]/;

const codePoint = (char: string) =>
  `U+${char.codePointAt(0)!.toString(16).toUpperCase().padStart(4, '0')}`;

function stringIssue(value: string): string | undefined {
  const control = FORBIDDEN_CONTROL.exec(value);
  if (control !== null)
    return `holds the control character ${codePoint(control[0])} (strings are text: no C0 controls but tab, CR and LF)`;
  if (!value.isWellFormed()) return 'holds a lone surrogate (strings are Unicode text)';
  return undefined;
}

const childPath = (path: string, key: string | number) =>
  typeof key === 'number' ? `${path}[${key}]` : path === '' ? key : `${path}.${key}`;

/**
 * Every place `value` breaks the text rule, in document order, at most `limit` of them (a body of
 * ten thousand bad strings needs one reason, not ten thousand). Iterative: depth is bounded by the
 * body parser, but the walk must not depend on it.
 */
export function textIssues(value: unknown, limit = 20): TextIssue[] {
  const issues: TextIssue[] = [];
  // A pending issue of an object key sits on the stack just above its value, so issues come out
  // in document order.
  const stack: ({ value: unknown; path: string } | { issue: TextIssue })[] = [{ value, path: '' }];
  while (stack.length > 0 && issues.length < limit) {
    const top = stack.pop()!;
    if ('issue' in top) {
      issues.push(top.issue);
      continue;
    }
    const { value: current, path } = top;
    const at = path === '' ? '(root)' : path;
    if (typeof current === 'string') {
      const problem = stringIssue(current);
      if (problem !== undefined) issues.push({ path: at, message: problem });
    } else if (typeof current === 'number') {
      if (!Number.isFinite(current))
        issues.push({ path: at, message: 'is a number outside the range of JSON numbers' });
    } else if (Array.isArray(current)) {
      for (let i = current.length - 1; i >= 0; i -= 1)
        stack.push({ value: current[i], path: childPath(path, i) });
    } else if (typeof current === 'object' && current !== null) {
      const keys = Object.keys(current);
      for (let i = keys.length - 1; i >= 0; i -= 1) {
        const key = keys[i]!;
        stack.push({
          value: (current as Record<string, unknown>)[key],
          path: childPath(path, key),
        });
        const problem = stringIssue(key);
        if (problem !== undefined)
          stack.push({ issue: { path: childPath(path, key), message: `key ${problem}` } });
      }
    }
  }
  return issues.map((issue) => ({ ...issue, path: issue.path.toWellFormed() }));
}

/** A URL whose authority holds userinfo (`scheme://user:secret@host`): cheap to test first. */
const URL_WITH_USERINFO = /^[A-Za-z][A-Za-z0-9+.-]*:\/\/[^/?#@\s]*@/;

/**
 * `text` with the userinfo of a URL masked (`https://***@host/...`): a secret must never enter an
 * append-only log, not even in the recorded copy of an input refused for carrying it.
 */
function withoutCredentials(text: string): string {
  if (!URL_WITH_USERINFO.test(text)) return text;
  return text.replace(
    URL_WITH_USERINFO,
    (prefix) => `${prefix.slice(0, prefix.indexOf('//') + 2)}***@`,
  );
}

/**
 * `value` as the log can hold it and may keep it: lone surrogates replaced by U+FFFD (they are not
 * text and cannot be stored as UTF-8), numbers JSON cannot hold (`1e309` parses to Infinity)
 * replaced by null, and credentials in URLs masked. Anything else, control characters included, is
 * kept as received. The reasons recorded beside the copy name every replaced place (see
 * {@link textIssues} and the schema's URL rule). Returns `value` itself when nothing needs
 * replacing, which is nearly always.
 */
export function storableInput(value: unknown): unknown {
  if (typeof value === 'string')
    return withoutCredentials(value.isWellFormed() ? value : value.toWellFormed());
  if (typeof value === 'number') return Number.isFinite(value) ? value : null;
  if (Array.isArray(value)) {
    let copy: unknown[] | undefined;
    for (let i = 0; i < value.length; i += 1) {
      const item: unknown = value[i];
      const stored = storableInput(item);
      if (stored !== item) (copy ??= value.slice())[i] = stored;
    }
    return copy ?? value;
  }
  if (typeof value === 'object' && value !== null) {
    const entries = Object.entries(value);
    let changed = false;
    const stored = entries.map(([key, item]): [string, unknown] => {
      const k = key.isWellFormed() ? key : key.toWellFormed();
      const v = storableInput(item);
      if (k !== key || v !== item) changed = true;
      return [k, v];
    });
    return changed ? Object.fromEntries(stored) : value;
  }
  return value;
}
