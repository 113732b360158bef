import { benchApiCallbacks } from './api-callbacks.ts';
import { benchProjectionRebuild } from './projection-rebuild.ts';
import { benchSimulate } from './simulate.ts';
import { benchStoreAppend } from './store-append.ts';

/** Every benchmark, by name. `npm run bench` runs them all; `npm run bench -- NAME` runs one. */
const benches: Record<string, () => Promise<void>> = {
  'store-append': benchStoreAppend,
  'api-callbacks': benchApiCallbacks,
  'projection-rebuild': benchProjectionRebuild,
  simulate: benchSimulate,
};

const wanted = process.argv.slice(2);
const unknown = wanted.filter((name) => !(name in benches));
if (unknown.length > 0) {
  console.error(
    `Unknown benchmark(s): ${unknown.join(', ')}. Known: ${Object.keys(benches).join(', ')}`,
  );
  process.exit(2);
}
for (const [name, run] of Object.entries(benches)) {
  if (wanted.length > 0 && !wanted.includes(name)) continue;
  console.log(`\n== ${name}`);
  await run();
}
console.log('\nResults written to docs/benchmarks.md');
