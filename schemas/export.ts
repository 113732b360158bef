import { mkdirSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { z } from 'zod';
import { contractSchemas } from './index.ts';

/** Base of every exported document's `$id`; the file name is appended. */
export const schemaBaseUrl = 'https://mission-ledger.dev/schemas/';

/**
 * Renders every contract schema as a JSON Schema (draft 2020-12) document, keyed by file name,
 * e.g. `mission-dispatch.schema.json`. Pure, so the drift test can compare it with the committed
 * files.
 */
export function exportJsonSchemas(): Record<string, string> {
  const files: Record<string, string> = {};
  for (const [name, schema] of Object.entries(contractSchemas)) {
    const file = `${name}.schema.json`;
    // `input`: the documents describe what senders must produce, before any zod defaults apply.
    const { $schema, ...body } = z.toJSONSchema(schema, { target: 'draft-2020-12', io: 'input' });
    const document = { $schema, $id: `${schemaBaseUrl}${file}`, ...body };
    files[file] = `${JSON.stringify(document, null, 2)}\n`;
  }
  return files;
}

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
