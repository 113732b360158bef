import { access, readFile, readdir } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { configSchema } from '../../src/config.ts';
import { errorCodes } from '../../src/errors.ts';
import { errorStatus } from '../../src/http/error-status.ts';

const read = (path: string) => readFile(new URL(`../../${path}`, import.meta.url), 'utf8');

/** Rows of a markdown table whose first cell is a `code` span: name -> remaining cells. */
function tableRows(markdown: string): Map<string, string[]> {
  const rows = new Map<string, string[]>();
  for (const line of markdown.split('\n')) {
    const match = /^\|\s*`([A-Z_0-9]+)`\s*\|(.*)\|\s*$/.exec(line);
    if (match)
      rows.set(
        match[1]!,
        match[2]!.split('|').map((cell) => cell.trim()),
      );
  }
  return rows;
}

describe('documentation matches the code', () => {
  it('docs/errors.md lists every error code with its HTTP status, and nothing else', async () => {
    const rows = tableRows(await read('docs/errors.md'));
    expect([...rows.keys()].sort()).toEqual(Object.keys(errorCodes).sort());
    for (const [code, cells] of rows) {
      expect(cells[0], code).toBe(String(errorStatus[code as keyof typeof errorStatus]));
    }
  });

  it('the README configuration table lists every environment variable the ledger reads', async () => {
    const rows = tableRows(await read('README.md'));
    for (const name of Object.keys(configSchema.shape)) expect(rows.has(name), name).toBe(true);
  });

  it('the README configuration table states the default each variable takes when unset', async () => {
    const rows = tableRows(await read('README.md'));
    const defaults: Record<string, string | number | undefined> = configSchema.parse({});
    for (const name of Object.keys(configSchema.shape)) {
      const documented = rows.get(name)?.[0];
      const value = defaults[name];
      expect(documented, name).toBe(value === undefined ? 'unset' : `\`${String(value)}\``);
    }
  });
});

describe('links in the docs', () => {
  it('every relative link of every markdown page resolves to a file in the repository', async () => {
    const pages = [
      'README.md',
      'projections/README.md',
      ...(await readdir(new URL('../../docs/', import.meta.url)))
        .filter((name) => name.endsWith('.md'))
        .map((name) => `docs/${name}`),
    ];
    const broken: string[] = [];
    for (const page of pages) {
      for (const [, target] of (await read(page)).matchAll(/\]\(([^)\s]+)\)/g)) {
        if (/^[a-z]+:/i.test(target!) || target!.startsWith('#')) continue;
        const path = join(dirname(page), target!.split('#')[0]!);
        if (path.startsWith('..')) broken.push(`${page}: ${target} leaves the repository`);
        else
          await access(new URL(`../../${path}`, import.meta.url)).catch(() =>
            broken.push(`${page}: ${target}`),
          );
      }
    }
    expect(broken).toEqual([]);
  });
});
