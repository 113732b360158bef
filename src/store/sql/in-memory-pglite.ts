import {
  Kysely,
  PostgresAdapter,
  PostgresIntrospector,
  PostgresQueryCompiler,
  type DatabaseConnection,
  type Dialect,
  type Driver,
  type TransactionSettings,
} from 'kysely';

/**
 * A database in an embedded PGlite held in this process's memory, for the read models of a
 * `memory:` store: they keep nothing after exit, like the log they are folded from.
 *
 * PGlite is imported and created when the first query runs (kysely initialises its driver
 * lazily), so the caller stays synchronous and a process that never queries pays nothing.
 * `destroy()` closes the PGlite instance.
 */
export function inMemoryPglite(): Kysely<unknown> {
  const dialect: Dialect = {
    createAdapter: () => new PostgresAdapter(),
    createDriver: () => new LazyPgliteDriver(),
    createQueryCompiler: () => new PostgresQueryCompiler(),
    createIntrospector: (db) => new PostgresIntrospector(db),
  };
  return new Kysely<unknown>({ dialect });
}

/** kysely-pglite-dialect's driver, created on `init`; every call is passed to it. */
class LazyPgliteDriver implements Driver {
  private driver: Driver | undefined;

  async init(): Promise<void> {
    const [{ PGlite }, { PGliteDialect }] = await Promise.all([
      import('@electric-sql/pglite'),
      import('kysely-pglite-dialect'),
    ]);
    const driver = new PGliteDialect(await PGlite.create()).createDriver();
    await driver.init();
    this.driver = driver;
  }

  acquireConnection(): Promise<DatabaseConnection> {
    return this.ready().acquireConnection();
  }

  beginTransaction(connection: DatabaseConnection, settings: TransactionSettings): Promise<void> {
    return this.ready().beginTransaction(connection, settings);
  }

  commitTransaction(connection: DatabaseConnection): Promise<void> {
    return this.ready().commitTransaction(connection);
  }

  rollbackTransaction(connection: DatabaseConnection): Promise<void> {
    return this.ready().rollbackTransaction(connection);
  }

  releaseConnection(connection: DatabaseConnection): Promise<void> {
    return this.ready().releaseConnection(connection);
  }

  async destroy(): Promise<void> {
    await this.driver?.destroy();
    this.driver = undefined;
  }

  /** kysely calls `init` before anything else; a call without it is a bug, not a state. */
  private ready(): Driver {
    if (this.driver === undefined) throw new Error('The in-memory PGlite is not initialised.');
    return this.driver;
  }
}
