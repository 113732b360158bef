import { randomUUID } from 'node:crypto';
import pg from 'pg';

/** The PostgreSQL the tests use. They create their own schemas in it and drop them afterwards. */
export const TEST_PG_URL =
  process.env.LEDGER_TEST_PG_URL ?? 'postgres://postgres@127.0.0.1:5432/test';

/**
 * Runs SQL against the test database. PostgreSQL is required, never skipped: when it is down
 * the tests fail and say how to start it.
 */
export async function adminQuery(text: string, values: unknown[] = []): Promise<pg.QueryResult> {
  const client = new pg.Client({ connectionString: TEST_PG_URL });
  try {
    await client.connect();
  } catch (error) {
    throw new Error(
      `PostgreSQL is required for the tests and is not reachable at ${TEST_PG_URL}. ` +
        'Start it (pg_ctlcluster <version> main start) or set LEDGER_TEST_PG_URL.',
      { cause: error },
    );
  }
  try {
    return await client.query(text, values);
  } finally {
    await client.end();
  }
}

/** A fresh schema name; `dropSchemas` removes every schema this helper handed out. */
const created: string[] = [];
export function freshSchemaName(prefix = 'lt'): string {
  const name = `${prefix}_${randomUUID().replaceAll('-', '').slice(0, 16)}`;
  created.push(name);
  return name;
}

/** Drops those schemas and the ones named after them (`<name>_read_models`, scratch schemas). */
export async function dropSchemas(): Promise<void> {
  const names = created.splice(0);
  if (names.length === 0) return;
  const { rows } = await adminQuery(
    `select nspname from pg_namespace
      where nspname = any($1::text[])
         or nspname like any(select replace(n, '_', '\\_') || '\\_%' from unnest($1::text[]) n)`,
    [names],
  );
  const all = rows.map((r: { nspname: string }) => r.nspname);
  if (all.length === 0) return;
  await adminQuery(all.map((n) => `drop schema if exists "${n}" cascade;`).join('\n'));
}

/** The test database URL pointing at `schema`. */
export function storeUrl(schema: string): string {
  const url = new URL(TEST_PG_URL);
  url.searchParams.set('schema', schema);
  return url.toString();
}
