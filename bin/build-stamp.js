// The compiled build in dist/ and whether it may run: `ledger` and the benchmarks run it only
// while it is newer than every source it was compiled from, so an edited checkout never runs
// stale code (it falls back to the TypeScript sources through tsx).
//
// `node bin/build-stamp.js` (the last step of `npm run build`) marks the build as done.
import { readdir, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import process from 'node:process';
import { URL, fileURLToPath } from 'node:url';

/** The checkout this file belongs to. */
export const ROOT = fileURLToPath(new URL('..', import.meta.url));
const stampOf = (root) => join(root, 'dist', 'BUILD_STAMP');
/** What `npm run build` compiles (tsconfig.build.json), and the settings it compiles with. */
const SOURCES = ['src', 'schemas', 'projections', 'bench'];
const SETTINGS = ['tsconfig.json', 'tsconfig.build.json', 'package.json'];

async function newestSource(path) {
  const info = await stat(path).catch(() => undefined);
  if (info === undefined) return 0;
  if (!info.isDirectory()) return path.endsWith('.ts') || path.endsWith('.json') ? info.mtimeMs : 0;
  let newest = info.mtimeMs; // a deleted or renamed file shows in its directory's time
  for (const entry of await readdir(path)) {
    if (entry === 'node_modules') continue;
    newest = Math.max(newest, await newestSource(join(path, entry)));
  }
  return newest;
}

/** True when `root`'s dist/ was built (stamped) after the last change to any source or setting. */
export async function buildIsFresh(root = ROOT) {
  const stamp = await stat(stampOf(root)).catch(() => undefined);
  if (stamp === undefined) return false;
  const times = await Promise.all(
    [...SOURCES, ...SETTINGS].map((name) => newestSource(join(root, name))),
  );
  return Math.max(...times) < stamp.mtimeMs;
}

/** Marks `root`'s dist/ as built now. */
export async function stampBuild(root = ROOT) {
  await writeFile(stampOf(root), `${new Date().toISOString()}\n`);
}

if (process.argv[1] === fileURLToPath(import.meta.url)) await stampBuild();
