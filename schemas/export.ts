// `npm run schemas`: writes what json-schema.ts renders to schemas/json/. The one module under
// schemas/ that does I/O; nothing imports it (.dependency-cruiser.js).
import { mkdirSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { exportJsonSchemas } from './json-schema.ts';

function main(): void {
  const dir = fileURLToPath(new URL('./json/', import.meta.url));
  mkdirSync(dir, { recursive: true });
  const files = exportJsonSchemas();
  // Stale documents would otherwise outlive a renamed or removed schema and fail the drift gate.
  for (const existing of readdirSync(dir)) {
    if (existing.endsWith('.schema.json') && !(existing in files)) {
      rmSync(join(dir, existing));
      console.log(`removed schemas/json/${existing}`);
    }
  }
  for (const [file, text] of Object.entries(files)) {
    writeFileSync(join(dir, file), text);
    console.log(`wrote schemas/json/${file}`);
  }
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) main();
