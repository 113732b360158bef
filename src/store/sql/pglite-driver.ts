import { PGlite } from '@electric-sql/pglite';
import { Kysely } from 'kysely';
import { PGliteDialect } from 'kysely-pglite-dialect';
import { acquireDirectoryLock } from './directory-lock.ts';
import type { SqlDriver } from './sql-store.ts';
import type { LedgerTables } from './tables.ts';

/**
 * Embedded PostgreSQL (PGlite) in this process: in memory when `dataDir` is undefined, else in
 * that directory. PGlite never fsyncs; it is the zero-configuration default, not a production
 * store. One process may open a directory at a time (an operating-system lock enforces it, see
 * directory-lock.ts), because two PGlite instances on one directory corrupt it.
 */
export async function pgliteDriver(dataDir: string | undefined): Promise<SqlDriver> {
  const release = dataDir === undefined ? undefined : await acquireDirectoryLock(dataDir);
  try {
    const pglite = await PGlite.create(dataDir === undefined ? {} : { dataDir });
    const db = new Kysely<LedgerTables>({ dialect: new PGliteDialect(pglite) });
    return {
      db,
      close: async () => {
        await db.destroy();
        await release?.();
      },
    };
  } catch (error) {
    await release?.();
    throw error;
  }
}
