import { randomUUID } from 'node:crypto';
import pg from 'pg';
import { describeConnectFailure } from '../../src/store/open-store.ts';

/** The PostgreSQL the tests use. They create their own schemas in it and drop them afterwards. */
export const TEST_PG_URL =
  process.env.LEDGER_TEST_PG_URL ?? 'postgres://postgres@127.0.0.1:5432/test';

/**
 * Runs SQL against the test database. PostgreSQL is required, never skipped: when it is down
 * the tests fail and say which problem it is and what to do (see {@link testPostgresProblem}).
 */
export async function adminQuery(text: string, values: unknown[] = []): Promise<pg.QueryResult> {
  const client = new pg.Client({ connectionString: TEST_PG_URL });
  try {
    await client.connect();
  } catch (error) {
    const problem = await testPostgresProblem(TEST_PG_URL);
    throw new Error(problem ?? `PostgreSQL is required for the tests: ${String(error)}`, {
      cause: error,
    });
  }
  try {
    return await client.query(text, values);
  } finally {
    await client.end();
  }
}

/** Why the tests cannot use the PostgreSQL at `url`, as one line; undefined when they can. */
export async function testPostgresProblem(url: string): Promise<string | undefined> {
  const prefix = 'PostgreSQL is required for the tests';
  let parsed: URL | undefined;
  try {
    parsed = new URL(url);
  } catch {
    parsed = undefined;
  }
  if (parsed === undefined || !['postgres:', 'postgresql:'].includes(parsed.protocol)) {
    return `${prefix}: LEDGER_TEST_PG_URL is not a postgres:// URL; set it like postgres://postgres@127.0.0.1:5432/test, or unset it for that default.`;
  }
  const client = new pg.Client({ connectionString: url, connectionTimeoutMillis: 5_000 });
  client.on('error', () => undefined);
  try {
    await client.connect();
    await client.query('select 1');
    return undefined;
  } catch (error) {
    const failure = describeConnectFailure(error, url, 'LEDGER_TEST_PG_URL');
    // The one failure the machine itself can fix: a local server that is not running.
    const start =
      failure?.code === 'STORE_UNAVAILABLE' &&
      /^(127\.0\.0\.1|localhost|\[::1\])$/.test(parsed.hostname)
        ? ' On Debian or Ubuntu: pg_ctlcluster <version> main start.'
        : '';
    const reason =
      failure?.message ??
      `${error instanceof Error ? error.message : String(error)} (check LEDGER_TEST_PG_URL)`;
    return `${prefix}: ${reason}${start}`;
  } finally {
    await client.end().catch(() => undefined);
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
