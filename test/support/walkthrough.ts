import { readFile, readdir } from 'node:fs/promises';
import { join } from 'node:path';

/*
 * The docs/api.md walkthrough as a script. A ```sh block belongs to it when the line before it
 * (blank lines aside) is `<!-- walkthrough -->`, or `<!-- walkthrough: before serve -->` for the
 * steps a reader takes before starting the server. Every curl of the walkthrough is followed by a
 * `# NNN …` comment: the status it gets and, after it, the answer as the reader will see it.
 */

/** The walkthrough's shell blocks, in document order. */
export interface WalkthroughBlocks {
  /** Run before `ledger serve` starts (e.g. adding a token it must read at start). */
  beforeServe: string[];
  /** Run against the running server. */
  served: string[];
}

const MARKER = /^<!--\s*walkthrough(?::\s*(before serve))?\s*-->$/;

/** Extracts the marked ```sh blocks; a marker not followed by one is an error, not a skip. */
export function walkthroughBlocks(markdown: string): WalkthroughBlocks {
  const lines = markdown.split('\n');
  const blocks: WalkthroughBlocks = { beforeServe: [], served: [] };
  for (let i = 0; i < lines.length; i++) {
    const marker = MARKER.exec(lines[i]!.trim());
    if (!marker) continue;
    let j = i + 1;
    while (j < lines.length && lines[j]!.trim() === '') j++;
    if (lines[j] !== '```sh') {
      throw new Error(
        `line ${i + 1}: a walkthrough marker must come right before a \`\`\`sh block`,
      );
    }
    const end = lines.indexOf('```', j + 1);
    if (end < 0) throw new Error(`line ${j + 1}: the walkthrough block is not closed`);
    const body = lines.slice(j + 1, end).join('\n');
    (marker[1] === undefined ? blocks.served : blocks.beforeServe).push(body);
    i = end;
  }
  return blocks;
}

/** One curl of the script and what its `# NNN …` comment says it gets. */
export interface ExpectedCall {
  /** The command line (continuation lines joined), for messages. */
  command: string;
  status: number;
  /** The comment's text after the status, continuation comment lines included. */
  answer: string;
}

const CURL = /(?:^|[\s(|;&])curl\s/g;
const STATUS_COMMENT = /^#\s+(\d{3})\b(.*)$/;

/**
 * The curls of `script` in the order they run (the walkthrough has no loops or branches that
 * would reorder them), each with its comment. A curl with no status comment under it is an error:
 * a reader could not tell what it should get.
 */
export function expectedCalls(script: string): ExpectedCall[] {
  const lines = script.split('\n');
  const calls: ExpectedCall[] = [];
  for (let i = 0; i < lines.length; i++) {
    if (lines[i]!.trimStart().startsWith('#')) continue;
    let command = lines[i]!;
    while (command.endsWith('\\') && i + 1 < lines.length)
      command = `${command.slice(0, -1)} ${lines[++i]!}`;
    // A trailing `# …` comment is prose, even where it names curl.
    const count = [...command.replace(/\s#\s.*$/, '').matchAll(CURL)].length;
    if (count === 0) continue;
    if (count > 1)
      throw new Error(`one curl a line, so each has its own status comment: ${command}`);
    const status = STATUS_COMMENT.exec(lines[i + 1]?.trim() ?? '');
    if (!status) throw new Error(`no "# NNN" status comment under: ${command}`);
    const answer = [status[2]!];
    for (let k = i + 2; k < lines.length && lines[k]!.trimStart().startsWith('#'); k++) {
      answer.push(lines[k]!.trimStart().slice(1));
    }
    calls.push({ command: command.trim(), status: Number(status[1]), answer: answer.join('\n') });
  }
  return calls;
}

/**
 * Bash run before the walkthrough: strict mode, and a `curl` that records each call's response
 * headers and body under `$WALKTHROUGH_RECORD` (numbered in call order) while passing the body on
 * unchanged, so the commands run as written. Files, not variables: most curls run in a pipeline
 * or a command substitution, i.e. in a subshell.
 */
export const RECORDING_PRELUDE = `set -euo pipefail
curl() {
  local n
  n=$(( $(find "$WALKTHROUGH_RECORD" -name '*.headers' | wc -l) + 1 ))
  : > "$WALKTHROUGH_RECORD/$n.headers"
  command curl -D "$WALKTHROUGH_RECORD/$n.headers" "$@" | tee "$WALKTHROUGH_RECORD/$n.body"
}
`;

/** What one recorded curl got. */
export interface RecordedCall {
  status: number | undefined;
  body: string;
}

/** The calls recorded in `dir`, in call order; the status is the last one received. */
export async function recordedCalls(dir: string): Promise<RecordedCall[]> {
  const count = (await readdir(dir)).filter((name) => name.endsWith('.headers')).length;
  const calls: RecordedCall[] = [];
  for (let n = 1; n <= count; n++) {
    const headers = await readFile(join(dir, `${n}.headers`), 'utf8');
    const statuses = [...headers.matchAll(/^HTTP\/\S+ (\d{3})/gm)].map((m) => Number(m[1]));
    const body = await readFile(join(dir, `${n}.body`), 'utf8').catch(() => '');
    calls.push({ status: statuses.at(-1), body });
  }
  return calls;
}

/** `"key":value` in a comment; the value only when it is a literal without an ellipsis. */
const PAIR =
  /"([A-Za-z_][A-Za-z0-9_]*)":\s*("(?:[^"\\…]|\\.)*"(?=[,}\]\s]|$)|-?\d+(?:\.\d+)?(?=[,}\]\s]|$)|true|false|null)?/g;

/** Every key of `value`, at any depth, with the scalars it holds (as JSON text). */
function collectKeys(value: unknown, into: Map<string, Set<string>>): void {
  if (Array.isArray(value)) {
    for (const item of value) collectKeys(item, into);
  } else if (value !== null && typeof value === 'object') {
    for (const [key, item] of Object.entries(value)) {
      const scalars = into.get(key) ?? new Set<string>();
      into.set(key, scalars);
      if (item === null || typeof item !== 'object') scalars.add(JSON.stringify(item));
      collectKeys(item, into);
    }
  }
}

/** The answer as JSON: the body itself, or the `data:` lines of an event stream. */
function answerJson(body: string): unknown[] {
  try {
    return [JSON.parse(body)];
  } catch {
    return body
      .split('\n')
      .filter((line) => line.startsWith('data: '))
      .map((line) => JSON.parse(line.slice('data: '.length)) as unknown);
  }
}

/**
 * Where `body` is not the answer `comment` shows: each `"key":` shown must be a key of the answer
 * (at any depth), and each literal shown with it (`"position":1`, `"duplicate":true`) one of that
 * key's values. Values with an ellipsis (`"msn_…"`) stand for any value.
 */
export function answerMismatches(comment: string, body: string): string[] {
  const pairs = [...comment.matchAll(PAIR)];
  if (pairs.length === 0) return [];
  const keys = new Map<string, Set<string>>();
  for (const json of answerJson(body)) collectKeys(json, keys);
  const problems: string[] = [];
  for (const [, key, literal] of pairs) {
    const values = keys.get(key!);
    if (values === undefined) problems.push(`no "${key}" in the answer`);
    else if (literal !== undefined && !values.has(JSON.stringify(JSON.parse(literal)))) {
      problems.push(`"${key}" is ${[...values].join(' or ') || 'not a scalar'}, not ${literal}`);
    }
  }
  return problems;
}
