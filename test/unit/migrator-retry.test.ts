import type { MigrationResultSet } from 'kysely';
import { describe, expect, it } from 'vitest';
import { migrateRetryingCatalogRaces } from '../../src/schema-migrations/migrator.ts';

/** A migration step that fails with each of `codes` in turn, then succeeds. */
function failingWith(...codes: string[]) {
  let calls = 0;
  const run = (): Promise<MigrationResultSet> => {
    const code = codes[calls];
    calls += 1;
    return Promise.resolve(
      code === undefined
        ? { results: [] }
        : { error: Object.assign(new Error(`pg ${code}`), { code }), results: [] },
    );
  };
  return { run, calls: () => calls };
}

describe('migrating beside sessions that drop schemas', () => {
  it('runs the step again when a concurrent drop failed its catalog scan', async () => {
    const step = failingWith('3F000', '42P01');
    expect((await migrateRetryingCatalogRaces(step.run)).error).toBeUndefined();
    expect(step.calls()).toBe(3);
  });

  it('gives up after five attempts, and never retries any other failure', async () => {
    const racing = failingWith('3F000', '3F000', '3F000', '3F000', '3F000', '3F000');
    expect((await migrateRetryingCatalogRaces(racing.run)).error).toMatchObject({ code: '3F000' });
    expect(racing.calls()).toBe(5);
    const broken = failingWith('42601');
    expect((await migrateRetryingCatalogRaces(broken.run)).error).toMatchObject({ code: '42601' });
    expect(broken.calls()).toBe(1);
  });
});
