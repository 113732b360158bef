import { mkdir, mkdtemp, rm, unlink, utimes, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { buildIsFresh, stampBuild } from '../../bin/build-stamp.js';

describe('build stamp: when ledger may run the compiled build', () => {
  let root: string;
  const at = (path: string, seconds: number) => utimes(join(root, path), seconds, seconds);

  beforeEach(async () => {
    root = await mkdtemp(join(tmpdir(), 'ledger-build-'));
    for (const dir of ['src/cli', 'projections', 'dist'])
      await mkdir(join(root, dir), { recursive: true });
    await writeFile(join(root, 'src/cli/main.ts'), 'export {};\n');
    await writeFile(join(root, 'projections/a.ts'), 'export {};\n');
    await writeFile(join(root, 'package.json'), '{}\n');
    for (const path of [
      'src/cli/main.ts',
      'src/cli',
      'src',
      'projections/a.ts',
      'projections',
      'package.json',
    ])
      await at(path, 1_000);
  });
  afterEach(() => rm(root, { recursive: true, force: true }));

  it('is stale without a stamp, fresh once stamped after the sources', async () => {
    expect(await buildIsFresh(root)).toBe(false);
    await stampBuild(root);
    expect(await buildIsFresh(root)).toBe(true);
  });

  it('is stale once a source, a setting or a directory listing changes after the stamp', async () => {
    await stampBuild(root);
    await at('dist/BUILD_STAMP', 2_000);
    expect(await buildIsFresh(root)).toBe(true);

    await at('projections/a.ts', 3_000);
    expect(await buildIsFresh(root)).toBe(false);
    await at('projections/a.ts', 1_000);

    await at('package.json', 3_000);
    expect(await buildIsFresh(root)).toBe(false);
    await at('package.json', 1_000);
    expect(await buildIsFresh(root)).toBe(true);

    // A deleted source leaves only its directory's time behind.
    await unlink(join(root, 'src/cli/main.ts'));
    await at('src/cli', 3_000);
    expect(await buildIsFresh(root)).toBe(false);
  });

  it('ignores files that are not sources', async () => {
    await stampBuild(root);
    await at('dist/BUILD_STAMP', 2_000);
    await writeFile(join(root, 'src/cli/notes.md'), 'x\n');
    await at('src/cli/notes.md', 3_000);
    await at('src/cli', 1_000);
    expect(await buildIsFresh(root)).toBe(true);
  });
});
