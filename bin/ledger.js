#!/usr/bin/env node
// The `ledger` command. It runs the compiled build in dist/ (made by `npm install`, through the
// prepare script, or by `npm run build`) while that build is newer than every source; otherwise
// it runs the TypeScript sources directly through tsx, so an edited checkout works at once and
// never runs stale code. Compiled, it starts faster, uses about 50 MB less memory and about 4%
// less CPU (tsx keeps its transforms in memory and wraps every named function to keep its name).
import { buildIsFresh } from './build-stamp.js';

if (await buildIsFresh()) {
  await import('../dist/src/cli/main.js');
} else {
  const { register } = await import('tsx/esm/api');
  register();
  await import('../src/cli/main.ts');
}
