import { z } from 'zod';
import { contractSchemas, recordPartSchemas } from './index.ts';

/** Base of every exported document's `$id`; the file name is appended. */
export const schemaBaseUrl = 'https://mission-ledger.dev/schemas/';

/**
 * Renders every contract schema and record part as a JSON Schema (draft 2020-12) document, keyed
 * by file name, e.g. `mission-dispatch.schema.json`. Pure, so the drift test can compare it with
 * the committed files.
 */
export function exportJsonSchemas(): Record<string, string> {
  const files: Record<string, string> = {};
  for (const [name, schema] of Object.entries({ ...contractSchemas, ...recordPartSchemas })) {
    const file = `${name}.schema.json`;
    // `input`: the documents describe what senders must produce, before any zod defaults apply.
    const { $schema, ...body } = z.toJSONSchema(schema, { target: 'draft-2020-12', io: 'input' });
    const document = { $schema, $id: `${schemaBaseUrl}${file}`, ...body };
    files[file] = `${JSON.stringify(document, null, 2)}\n`;
  }
  return files;
}
