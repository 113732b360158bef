import { readFile } from 'node:fs/promises';

/**
 * The version in package.json: two levels up from src/cli, three from the build's dist/src/cli.
 * The name is checked so that another package.json on the way is never taken for ours.
 */
export async function packageVersion(): Promise<string> {
  for (const path of ['../../package.json', '../../../package.json']) {
    const text = await readFile(new URL(path, import.meta.url), 'utf8').catch(() => undefined);
    if (text === undefined) continue;
    const pkg = JSON.parse(text) as { name?: string; version: string };
    if (pkg.name === 'mission-ledger') return pkg.version;
  }
  return 'unknown';
}
