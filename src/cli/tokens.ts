import { randomBytes } from 'node:crypto';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { dirname, resolve } from 'node:path';
import { LedgerError } from '../errors.ts';
import { tokensFileSchema, type TokenEntry } from '../http/auth.ts';
import type { LedgerConfig } from '../config.ts';

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
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (error) {
    throw new LedgerError(
      'CONFIGURATION_INVALID',
      `Cannot read LEDGER_TOKENS_FILE ${path}.`,
      { path },
      { cause: error },
    );
  }
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch {
    throw new LedgerError('CONFIGURATION_INVALID', `LEDGER_TOKENS_FILE ${path} is not JSON.`, {
      path,
    });
  }
  const parsed = tokensFileSchema.safeParse(json);
  if (!parsed.success) {
    // Issue paths only: a message could quote a token.
    const problems = parsed.error.issues.map((i) => `${i.path.join('.') || '(root)'}: ${i.code}`);
    throw new LedgerError(
      'CONFIGURATION_INVALID',
      `LEDGER_TOKENS_FILE ${path} is invalid: ${problems.join('; ')}.`,
      {
        path,
        problems,
      },
    );
  }
  return parsed.data;
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
