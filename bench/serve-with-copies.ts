import type { ProjectionFold } from '../projections/projection.ts';
import { runServe } from '../src/cli/serve.ts';
import { pureProjections } from '../src/read-models/read-models.ts';
import type { AnyTables } from '../src/read-models/read-model-tables.ts';

/**
 * `ledger serve` with each of the ledger's projections running twice: the real one and a copy
 * under another name (its own tables and checkpoint). For the api-callbacks benchmark's cost of
 * adding projections; the copies fold exactly what the originals fold.
 */
const copies: ProjectionFold<AnyTables>[] = pureProjections.map((fold) => ({
  ...fold,
  name: `${fold.name}_copy`,
}));
await runServe({ folds: [...pureProjections, ...copies] });
