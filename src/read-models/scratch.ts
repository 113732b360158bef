import { randomBytes } from 'node:crypto';
import { sql, type Kysely } from 'kysely';

/** A fresh schema name next to `schema` for a rebuild or a verification (`<schema>_<purpose>_<hex>`). */
export function scratchSchemaName(schema: string, purpose: 'verify' | 'rebuild'): string {
  return `${schema.slice(0, 40)}_${purpose}_${randomBytes(4).toString('hex')}`;
}

export async function dropSchema(db: Kysely<unknown>, schema: string): Promise<void> {
  await sql`drop schema if exists ${sql.id(schema)} cascade`.execute(db);
}

/** True on PGlite: one connection, so nothing may wait on another connection while holding it. */
export async function isEmbedded(db: Kysely<unknown>): Promise<boolean> {
  const { rows } = await sql<{ version: string }>`select version() as version`.execute(db);
  return rows[0]?.version.includes('wasm') === true;
}
