import { readFile } from 'node:fs/promises';
import { LedgerError } from '../errors.ts';
import { findJsonSyntaxError } from './json-syntax-error.ts';

/**
 * Reads a JSON file a user named (`what`: the variable or option that named it). A file that
 * cannot be read, or is not JSON, is CONFIGURATION_INVALID naming the line and column of the
 * error: only a position, never JSON.parse's message, which quotes the text around the error and
 * might quote a secret.
 */
export async function readJsonFile(path: string, what: string): Promise<unknown> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (error) {
    throw new LedgerError(
      'CONFIGURATION_INVALID',
      `Cannot read ${what} ${path}.`,
      { path },
      { cause: error },
    );
  }
  try {
    return JSON.parse(text);
  } catch {
    const at = findJsonSyntaxError(text);
    const where = at === undefined ? '' : `: ${at.found} at line ${at.line}, column ${at.column}`;
    throw new LedgerError('CONFIGURATION_INVALID', `${what} ${path} is not JSON${where}.`, {
      path,
      ...(at === undefined ? {} : { line: at.line, column: at.column }),
    });
  }
}
