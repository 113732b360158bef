import { randomBytes } from 'node:crypto';
import { mkdir, writeFile } from 'node:fs/promises';
import { dirname, resolve } from 'node:path';
import { LedgerError } from '../errors.ts';
import { tokenEntrySchema, tokensFileSchema, type TokenEntry } from '../http/auth.ts';
import type { LedgerConfig } from '../config.ts';
import type { z } from 'zod';
import { readJsonFile } from './json-file.ts';

/** Where `ledger serve` keeps a development token file when LEDGER_TOKENS_FILE is unset. */
export const DEV_TOKENS_FILE = '.ledger-dev-tokens.json';

export interface LoadedTokens {
  entries: TokenEntry[];
  path: string;
  /** True when this start created a development token file. */
  created: boolean;
}

/** Reads and validates a tokens file (a JSON array of {token, role, instance_id?, name?}). */
export async function readTokensFile(path: string): Promise<TokenEntry[]> {
  const json = await readJsonFile(path, 'LEDGER_TOKENS_FILE');
  const parsed = tokensFileSchema.safeParse(json);
  if (!parsed.success) {
    const problems = [...new Set(parsed.error.issues.map(tokenProblem))];
    throw new LedgerError(
      'CONFIGURATION_INVALID',
      `LEDGER_TOKENS_FILE ${path} is invalid: ${problems.join('; ')}.`,
      { path, problems },
    );
  }
  return parsed.data;
}

/** The shape of one entry, for messages. */
const ENTRY_SHAPE = '{token, role, instance_id?, name?}';

/**
 * One schema issue as a sentence that says what to write instead. Never quotes a value: any
 * string in the file could be a token. Field names are quoted only when they look like names.
 */
function tokenProblem(issue: z.core.$ZodIssue): string {
  const [index, field] = issue.path;
  if (index === undefined) {
    return issue.code === 'too_small'
      ? `it holds no tokens; list at least one ${ENTRY_SHAPE}`
      : `it must be a JSON array of ${ENTRY_SHAPE}`;
  }
  const entry = typeof index === 'number' ? `entry ${index + 1}` : 'an entry';
  if (field === undefined) {
    if (issue.code === 'unrecognized_keys') {
      const keys = issue.keys.map((k) => (/^[A-Za-z_]{1,32}$/.test(k) ? `"${k}"` : 'a field'));
      return issue.keys.length === 1 && issue.keys[0] === 'instance_id'
        ? `${entry}: only factory tokens take instance_id`
        : `${entry}: unknown ${keys.join(', ')}; an entry is ${ENTRY_SHAPE}`;
    }
    return `${entry} must be an object ${ENTRY_SHAPE}`;
  }
  switch (field) {
    case 'role': {
      const roles = tokenEntrySchema.options.map((option) => option.shape.role.value);
      return `${entry}: role must be ${roles.slice(0, -1).join(', ')} or ${roles.at(-1)}`;
    }
    case 'instance_id':
      return `${entry}: factory tokens need instance_id (the factory instance they post for)`;
    case 'token':
      return issue.code === 'too_small'
        ? `${entry}: token must be at least ${String(issue.minimum)} characters`
        : `${entry}: token must be a string`;
    case 'name':
      return `${entry}: name must be a non-empty string`;
    default:
      return `${entry}: ${String(field)} is invalid`;
  }
}

/**
 * The tokens this process accepts. Production refuses to start without LEDGER_TOKENS_FILE;
 * elsewhere a development file with one operator token is created once (mode 0600) and reused.
 */
export async function loadTokens(config: LedgerConfig): Promise<LoadedTokens> {
  if (config.LEDGER_TOKENS_FILE !== undefined) {
    const path = resolve(config.LEDGER_TOKENS_FILE);
    return { entries: await readTokensFile(path), path, created: false };
  }
  if (config.LEDGER_ENV === 'production') {
    throw new LedgerError(
      'CONFIGURATION_INVALID',
      'LEDGER_ENV=production needs LEDGER_TOKENS_FILE: the ledger never invents credentials in production.',
    );
  }
  const path = resolve(DEV_TOKENS_FILE);
  try {
    return { entries: await readTokensFile(path), path, created: false };
  } catch (error) {
    if ((error as { cause?: { code?: string } }).cause?.code !== 'ENOENT') throw error;
  }
  const entries: TokenEntry[] = [
    {
      token: `dev_${randomBytes(24).toString('base64url')}`,
      role: 'operator',
      name: 'local-operator',
    },
  ];
  await mkdir(dirname(path), { recursive: true });
  await writeFile(path, `${JSON.stringify(entries, null, 2)}\n`, { mode: 0o600, flag: 'wx' });
  return { entries, path, created: true };
}
