import type { z } from 'zod';
import { LedgerError } from '../errors.ts';

/** `rules.signature.production`, or `the document` for a problem at its top. */
function where(path: readonly PropertyKey[]): string {
  return path.length === 0 ? 'the document' : path.map(String).join('.');
}

/** Plain wording for the issues zod words for programmers (types, unknown keys). */
const plainIssue: z.core.$ZodErrorMap = (issue) => {
  if (issue.code === 'invalid_type') {
    if (issue.input === undefined) return 'is missing';
    const noun = issue.expected === 'object' ? 'a JSON object' : `a ${issue.expected}`;
    return `must be ${noun}`;
  }
  if (issue.code === 'unrecognized_keys') {
    const [one, ...more] = issue.keys;
    const noun = issue.path?.join('.') === 'rules' ? 'rule' : 'field';
    return more.length === 0
      ? `has an unknown ${noun} ${String(one)}`
      : `has unknown ${noun}s ${issue.keys.join(', ')}`;
  }
  return undefined;
};

/**
 * Parses a configuration document (a profile, a signature file) with `schema`. Throws
 * `CONFIGURATION_INVALID` whose message is one plain sentence naming the first problem, e.g.
 * `Policy profile: rules.budget.staging must be one of off, shadow, warn, enforce.`;
 * `details.issues` lists every problem.
 */
export function parseDocument<T extends z.ZodType>(
  what: string,
  schema: T,
  json: unknown,
): z.infer<T> {
  const result = schema.safeParse(json, { error: plainIssue });
  if (result.success) return result.data;
  const issues = result.error.issues.map((i) => `${where(i.path)} ${i.message}`);
  throw new LedgerError('CONFIGURATION_INVALID', `${what}: ${issues[0] ?? 'is invalid'}.`, {
    issues,
  });
}
