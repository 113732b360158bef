import { loadConfig, type LedgerConfig } from '../config.ts';
import { LedgerError } from '../errors.ts';
import { createLogger } from '../logger.ts';
import { openReadModelDatabase } from '../read-models/open-read-models.ts';
import { ReadModels } from '../read-models/read-models.ts';
import {
  DEFAULT_PG_DEADLINES,
  openStore,
  parseStoreUrl,
  redactStoreUrl,
  type PgDeadlines,
} from '../store/open-store.ts';
import { packageVersion } from './package-version.ts';

/**
 * Refuses to split the read side from the serving process on an embedded or in-memory store:
 * one process owns such a store, and it runs the projections itself.
 */
export function refuseEmbeddedProjector(config: LedgerConfig, what: string): void {
  const kind = parseStoreUrl(config.LEDGER_STORE).kind;
  if (kind === 'pglite' || kind === 'memory') {
    throw new LedgerError(
      'CONFIGURATION_INVALID',
      `${what} needs a store several processes share (PostgreSQL, or EventStoreDB with LEDGER_READ_MODELS); LEDGER_STORE=${kind}: is owned by one \`ledger serve\`, which runs the projections itself.`,
    );
  }
}

/**
 * `ledger projector`: the read side alone. Runs every projection on the read models of
 * LEDGER_STORE (or LEDGER_READ_MODELS) until SIGINT or SIGTERM, as the leader or, while another
 * process leads, as a standby that takes over when it stops or dies. Pairs with
 * `ledger serve --no-projections`.
 */
export async function runProjector(): Promise<void> {
  const config = loadConfig();
  refuseEmbeddedProjector(config, 'ledger projector');
  const logger = createLogger(config.LOG_LEVEL);
  const version = await packageVersion();
  const deadlines: PgDeadlines = {
    ...DEFAULT_PG_DEADLINES,
    timeoutMs: config.LEDGER_STORE_TIMEOUT_MS,
  };
  const store = await openStore(config.LEDGER_STORE, {
    maxEventBytes: config.LEDGER_MAX_EVENT_BYTES,
    deadlines,
  });
  let readModels: ReadModels;
  let at: string;
  try {
    const target = openReadModelDatabase(
      config.LEDGER_STORE,
      store,
      config.LEDGER_READ_MODELS,
      deadlines,
    );
    at = target.description;
    readModels = new ReadModels({
      store,
      db: target.db,
      schema: target.schema,
      closeDb: target.close,
      logger,
    });
    const models = readModels;
    try {
      await readModels.start();
    } catch (error) {
      await models.stop().catch(() => undefined);
      throw error;
    }
  } catch (error) {
    await store.close().catch(() => undefined);
    throw error;
  }
  process.stderr.write(
    [
      `mission-ledger projector ${version}`,
      `  store        ${redactStoreUrl(config.LEDGER_STORE)}`,
      `  read models  ${at}`,
      `  projections  ${readModels.folds.map((fold) => fold.name).join(', ')}`,
      '',
    ].join('\n'),
  );
  logger.info({ read_models: at }, 'projector started');

  await new Promise<void>((resolve) => {
    const stop = (signal: string) => {
      logger.info({ signal }, 'projector stopping: finishing the batch in flight');
      resolve();
    };
    process.once('SIGINT', () => stop('SIGINT'));
    process.once('SIGTERM', () => stop('SIGTERM'));
  });
  try {
    await readModels.stop();
  } finally {
    await store.close();
  }
  logger.info('projector stopped');
  logger.flush();
}
