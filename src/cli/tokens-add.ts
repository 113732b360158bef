import { randomBytes } from 'node:crypto';
import { rename, stat, writeFile } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import { loadConfig } from '../config.ts';
import { LedgerError } from '../errors.ts';
import { tokensFileSchema, type TokenEntry } from '../http/auth.ts';
import { loadTokens } from './tokens.ts';

export interface TokensAddOptions {
  role: string;
  instance?: string;
  name?: string;
}

/**
 * `ledger tokens add --role ROLE [--instance ID] [--name NAME]`: appends a new random token to
 * the tokens file `ledger serve` reads (LEDGER_TOKENS_FILE, or the development file, created as
 * `ledger serve` would when absent) and prints it once on stdout. The file is replaced whole by a
 * rename, so a reader never sees half of it, and it is checked as `ledger serve` will check it
 * before it is written. A running server reads the file only at start: this says to restart it.
 */
export async function runTokensAdd(options: TokensAddOptions): Promise<void> {
  if ((options.role === 'factory') !== (options.instance !== undefined)) {
    throw new LedgerError(
      'CONFIGURATION_INVALID',
      options.role === 'factory'
        ? 'A factory token is bound to one instance: add --instance ID.'
        : `--instance is for factory tokens; a ${options.role} token reads every mission.`,
    );
  }
  const { entries, path } = await loadTokens(loadConfig());
  const entry = {
    token: `${options.role}_${randomBytes(32).toString('base64url')}`,
    role: options.role,
    ...(options.instance === undefined ? {} : { instance_id: options.instance }),
    ...(options.name === undefined ? {} : { name: options.name }),
  };
  const parsed = tokensFileSchema.safeParse([...entries, entry]);
  if (!parsed.success) {
    // Only the new entry can be wrong: the file's own entries were just read and checked.
    const problems = parsed.error.issues.map(
      (i) => `${i.path.slice(1).join('.') || 'entry'}: ${i.message}`,
    );
    throw new LedgerError(
      'CONFIGURATION_INVALID',
      `Not a valid token entry: ${problems.join('; ')}.`,
    );
  }
  await replaceFile(path, `${JSON.stringify(parsed.data satisfies TokenEntry[], null, 2)}\n`);
  process.stdout.write(`${entry.token}\n`);
  process.stderr.write(
    `added a ${entry.role} token${entry.instance_id === undefined ? '' : ` for instance ${entry.instance_id}`} to ${path}; ` +
      'it is shown once, here. A running `ledger serve` reads the tokens file only at start: restart it to accept the token.\n',
  );
}

/** Writes `text` beside `path`, with its mode, then renames it over `path`. */
async function replaceFile(path: string, text: string): Promise<void> {
  const mode = (await stat(path)).mode & 0o777;
  const temporary = join(dirname(path), `.${basename(path)}.${process.pid}.tmp`);
  await writeFile(temporary, text, { mode, flag: 'wx' });
  await rename(temporary, path);
}
