import { sql, type Kysely } from 'kysely';
import type { ProjectionFold } from '../../projections/projection.ts';
import { LedgerError } from '../errors.ts';
import type { EventStore, Position } from '../store/port.ts';
import { createCheckpointRow, lockSetup, readCheckpoints, swapCheckpoint } from './checkpoints.ts';
import { migrateCheckpointTables } from './checkpoint-migrations.ts';
import { catchUpProjections } from './catch-up.ts';
import {
  createReadModelTables,
  readModelTables,
  setTablesLogged,
  type AnyTables,
} from './read-model-tables.ts';
import { dropSchema, isEmbedded, scratchSchemaName } from './scratch.ts';

export interface RebuildOptions {
  store: EventStore;
  db: Kysely<unknown>;
  /** The live read-model schema. */
  schema: string;
  pure: ProjectionFold<AnyTables>;
  /** Rows staged before each write of the copy (see `catchUpProjections`). */
  flushRows?: number;
  onProgress?: (position: Position, target: Position) => void;
}

export interface RebuildResult {
  projection: string;
  /** The position the new tables were built to (the live checkpoint now). */
  position: Position;
  /** The checkpoint generation after the swap. */
  generation: number;
  /** Rounds of catching up before the swap could happen. */
  rounds: number;
}

/** Catch-up rounds before the swap; each starts from where the last one ended. */
const MAX_ROUNDS = 8;

/** The scratch copy is behind the live one: catch up again before swapping. */
class Behind extends Error {}

/**
 * `ledger projections rebuild NAME`, blue/green: builds the projection from position 0 into a
 * scratch schema ({@link catchUpProjections}: unlogged tables without secondary indexes) while
 * the live tables keep serving (and the live engine keeps applying), makes the copy logged, then
 * swaps in one transaction once the copy has caught up with the live checkpoint:
 *
 * 1. lock the live checkpoint row (`for update`): the live engine waits before its next batch;
 * 2. drop the live tables and move the new ones into the live schema (indexes move with them);
 * 3. set the checkpoint to the copy's position in a new generation and the code's version,
 *    clearing a stall and the parked events the rebuild got past.
 *
 * The live engine, in any process, then fails its next compare-and-set (the generation changed),
 * drops its row cache and continues from the new checkpoint. Readers see the old tables or the
 * new ones, never a mix.
 */
export async function rebuildProjection(options: RebuildOptions): Promise<RebuildResult> {
  const { db, schema, store, pure } = options;
  const scratch = scratchSchemaName(schema, 'rebuild');
  const embedded = await isEmbedded(db);
  const catchUp = async (until?: Position): Promise<Position> => {
    const target = until ?? (await store.headPosition());
    const [outcome] = await catchUpProjections({
      store,
      db,
      schema: scratch,
      targets: [{ pure, until: target }],
      ...(options.flushRows === undefined ? {} : { flushRows: options.flushRows }),
      onProgress: (_, position, to) => options.onProgress?.(position, to),
    });
    if (outcome!.status === 'rejected') throw outcome!.reason;
    return outcome!.value;
  };
  try {
    await migrateCheckpointTables(db, schema);
    for (let round = 1; ; round += 1) {
      const built = await catchUp();
      // The copy was written unlogged; the WAL must have it before it serves. Done here, outside
      // the swap's lock, once: later rounds write logged tables.
      await setTablesLogged(db, scratch, pure);
      try {
        const swapped = await db.transaction().execute(async (trx) => {
          await lockSetup(trx, schema);
          await createCheckpointRow(trx, schema, pure.name, pure.version);
          const live = (await readCheckpoints(trx, schema, [pure.name], { forUpdate: true })).get(
            pure.name,
          )!;
          let position = built;
          if (live.position > built) {
            // On PostgreSQL the last round catches up under the lock (on other connections);
            // PGlite's single connection is ours, so it can only try again.
            if (round < MAX_ROUNDS || embedded) throw new Behind();
            position = await catchUp(live.position);
          }
          // Built without secondary indexes (cheaper upserts); they must exist before serving.
          await createReadModelTables(trx, scratch, pure);
          for (const name of readModelTables(pure).values()) {
            await sql`drop table if exists ${sql.id(schema, name)}`.execute(trx);
            await sql`alter table ${sql.id(scratch, name)} set schema ${sql.id(schema)}`.execute(
              trx,
            );
          }
          const generation = await swapCheckpoint(trx, schema, pure.name, position, pure.version);
          return { generation, position };
        });
        return {
          projection: pure.name,
          position: swapped.position,
          generation: swapped.generation,
          rounds: round,
        };
      } catch (error) {
        if (!(error instanceof Behind)) throw error;
        if (round >= MAX_ROUNDS) {
          throw new LedgerError(
            'PROJECTION_LAGGING',
            `The rebuild of ${pure.name} could not catch up with the live projection in ${MAX_ROUNDS} rounds.`,
            { projection: pure.name },
          );
        }
      }
    }
  } finally {
    await dropSchema(db, scratch);
  }
}
