import { spawn } from 'node:child_process';
import { sql } from 'kysely';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { budgetsProjection, type ProjectionFold } from '../../projections/index.ts';
import { pureProjections } from '../../src/read-models/read-models.ts';
import { rebuildProjection } from '../../src/read-models/rebuild.ts';
import { readCheckpoints } from '../../src/read-models/checkpoints.ts';
import type { AnyTables } from '../../src/read-models/read-model-tables.ts';
import { verifyReadModels, type VerifyReport } from '../../src/read-models/verify.ts';
import { openStore } from '../../src/store/open-store.ts';
import type { EventStore } from '../../src/store/port.ts';
import { startApp, type TestApp } from '../support/http-app.ts';
import { dropSchemas, freshSchemaName, storeUrl } from '../support/postgres.ts';
import { seedMissions } from '../support/seeded-run.ts';

const BIN = new URL('../../bin/ledger.js', import.meta.url).pathname;

const cleanups: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});
afterAll(() => dropSchemas());

interface Fixture {
  store: EventStore;
  app: TestApp;
  url: string;
}

async function open(url: string): Promise<Fixture> {
  const store = await openStore(url, { pollIntervalMs: 50 });
  const app = await startApp({ store });
  cleanups.push(
    () => store.close(),
    () => app.close(),
  );
  return { store, app, url };
}

async function caughtUp(f: Fixture): Promise<number> {
  const head = await f.store.headPosition();
  for (const p of pureProjections) await f.app.readModels.waitFor(p.name, head, 30_000);
  return head;
}

function verify(f: Fixture): Promise<VerifyReport> {
  const rm = f.app.readModels;
  return verifyReadModels({
    store: f.store,
    db: rm.db,
    schema: rm.schema,
    projections: pureProjections,
  });
}

function expectIdentical(report: VerifyReport, position: number): void {
  expect(
    report.projections.map((p) => [p.projection, p.status, p.position]),
    JSON.stringify(report.projections.filter((p) => p.status !== 'identical')),
  ).toEqual(pureProjections.map((p) => [p.name, 'identical', position]));
  expect(report.identical).toBe(true);
}

/** Runs `ledger <args>` against the store at `url`; resolves with its exit code and output. */
function ledger(url: string, ...args: string[]) {
  return new Promise<{ code: number | null; stdout: string; stderr: string }>((resolve) => {
    const child = spawn(process.execPath, [BIN, ...args], {
      env: { ...process.env, LEDGER_STORE: url, LOG_LEVEL: 'silent' },
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
    child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    child.on('close', (code) => resolve({ code, stdout, stderr }));
  });
}

describe('replay integrity on PostgreSQL', () => {
  it('a seeded run through the API rebuilds to identical digests; a hand-edited row is named', async () => {
    const f = await open(storeUrl(freshSchemaName()));
    const seeded = await seedMissions(f.app, 400);
    const head = await caughtUp(f);
    expect(head).toBeGreaterThan(2_000); // thousands of events, every kind of lifecycle
    expect(seeded.lastPosition).toBe(head);

    const report = await verify(f);
    expectIdentical(report, head);
    const rows = (name: string) =>
      report.projections.find((p) => p.projection === name)!.tables.map((t) => t.live.rows);
    expect(rows('mission_state')).toEqual([400, 400]); // mission_state and mission_dispatches
    expect(rows('budgets')).toEqual([400]);

    // The scratch schema is gone, the live one untouched.
    const rm = f.app.readModels;
    const { rows: schemas } = await sql<{ name: string }>`
      select nspname as name from pg_namespace where nspname like ${`${rm.schema}\\_%`}`.execute(
      rm.db,
    );
    expect(schemas).toEqual([]);

    // The CLI says the same, and exits 0.
    const ok = await ledger(f.url, 'replay', '--verify');
    expect(ok.stderr).toBe('');
    expect(ok.code).toBe(0);
    expect(ok.stdout).toContain(`log head ${head}`);
    expect(ok.stdout).toMatch(/identical: all 6 projections equal their rebuild/);

    // Hand edits: a changed value, a deleted row, an invented row.
    const [changed, deleted] = seeded.dispatches.map((d) => d.mission_id);
    const budgets = rm.table('budgets', 'budgets');
    await sql`update ${budgets} set row = jsonb_set(row, '{used_llm_calls}', '999')
               where key = ${changed}`.execute(rm.db);
    await sql`delete from ${rm.table('mission_state', 'mission_state')} where key = ${deleted}`.execute(
      rm.db,
    );
    await sql`insert into ${budgets} (key, row) values ('msn_invented', '{}'::jsonb)`.execute(
      rm.db,
    );

    const edited = await verify(f);
    expect(edited.identical).toBe(false);
    const byName = new Map(edited.projections.map((p) => [p.projection, p]));
    expect(byName.get('vp_sessions')!.status).toBe('identical');
    const budgetTable = byName.get('budgets')!.tables[0]!;
    expect(budgetTable.differenceCount).toBe(2);
    expect(budgetTable.differences).toEqual([
      // In key order: 'msn_invented' < 'msn_t_...'.
      expect.objectContaining({ key: 'msn_invented', kind: 'unexpected' }),
      expect.objectContaining({ key: changed, kind: 'changed', columns: ['used_llm_calls'] }),
    ]);
    expect(budgetTable.live.digest).not.toBe(budgetTable.rebuilt.digest);
    const stateTable = byName.get('mission_state')!.tables[0]!;
    expect(stateTable.differences).toEqual([
      expect.objectContaining({ key: deleted, kind: 'missing' }),
    ]);

    const failed = await ledger(f.url, 'replay', '--verify');
    expect(failed.code).toBe(1);
    expect(failed.stdout).toContain('budgets__budgets: 2 rows differ');
    expect(failed.stdout).toContain(`changed     key ${changed}: used_llm_calls`);
    expect(failed.stdout).toContain('used_llm_calls: live 999, rebuilt 35');
    expect(failed.stdout).toContain(`missing     key ${deleted}`);
    expect(failed.stdout).toContain('mission_state__mission_state: 1 row differs');
    expect(failed.stdout).toContain('unexpected  key msn_invented');
    expect(failed.stdout).toContain('NOT identical: 4 of 6 projections equal their rebuild');

    // Rebuilding both blue/green (through the CLI for one) makes them identical again, while the
    // app keeps serving and appending.
    const more = seedMissions(f.app, 30, 4);
    const cli = await ledger(f.url, 'projections', 'rebuild', 'budgets');
    expect(cli.code, cli.stderr).toBe(0);
    expect(cli.stdout).toMatch(/rebuilt budgets to position \d+ .* generation 1/);
    await rebuildProjection({
      store: f.store,
      db: rm.db,
      schema: rm.schema,
      pure: pureProjections.find((p) => p.name === 'mission_state')!,
    });
    await more;
    const after = await caughtUp(f);
    expectIdentical(await verify(f), after);
    const checkpoints = await readCheckpoints(rm.db, rm.schema, ['budgets', 'mission_state']);
    expect(checkpoints.get('budgets')).toMatchObject({ generation: 1, status: 'running' });
    expect(checkpoints.get('mission_state')).toMatchObject({ generation: 1, position: after });
  }, 180_000);

  it('a dropped read model stalls its runner; a rebuild brings it back while the app serves', async () => {
    const f = await open(storeUrl(freshSchemaName()));
    await seedMissions(f.app, 30);
    await caughtUp(f);
    const rm = f.app.readModels;
    await sql`drop table ${rm.table('approval_queue', 'approval_queue')}`.execute(rm.db);
    await seedMissions(f.app, 6, 2); // the runner cannot write: it parks the event and stalls
    await expect
      .poll(() => rm.status().find((s) => s.name === 'approval_queue')?.status, {
        timeout: 10_000,
      })
      .toBe('stalled');

    const result = await rebuildProjection({
      store: f.store,
      db: rm.db,
      schema: rm.schema,
      pure: pureProjections.find((p) => p.name === 'approval_queue')!,
    });
    expect(result.generation).toBe(1);
    // The serving process notices the cleared stall and resumes with a fresh runner.
    await expect
      .poll(() => rm.status().find((s) => s.name === 'approval_queue')?.status, {
        timeout: 10_000,
      })
      .toBe('running');
    await seedMissions(f.app, 6, 2);
    const head = await caughtUp(f);
    expectIdentical(await verify(f), head);
    const { rows } = await sql<{ n: number }>`
      select count(*)::int as n from ${sql.table(`${rm.schema}.projection_parked`)}`.execute(rm.db);
    expect(rows[0]!.n).toBe(0);
  }, 120_000);

  it('tables built by another projection version stall until a rebuild by the new version', async () => {
    const f = await open(storeUrl(freshSchemaName()));
    await seedMissions(f.app, 12);
    const head = await caughtUp(f);
    const rm = f.app.readModels;
    const v2 = { ...budgetsProjection, version: 2 } as unknown as ProjectionFold<AnyTables>;
    const { ProjectionEngine } = await import('../../src/read-models/projection-engine.ts');
    // The serving engine (version 1) stops; a version-2 process starts on the same tables.
    await rm.stop();
    const engine = new ProjectionEngine({
      store: f.store,
      db: f.app.readModels.db,
      schema: rm.schema,
      folds: pureProjections.map((p) => (p.name === 'budgets' ? v2 : p)),
    });
    cleanups.push(() => engine.stop());
    await engine.start();
    const budgets = () => engine.status().find((s) => s.name === 'budgets')!;
    await expect.poll(() => budgets().status).toBe('stalled');
    expect(budgets()).toMatchObject({
      status: 'stalled',
      error:
        'The tables of budgets were built by version 1; this is version 2. Rebuild them: ledger projections rebuild budgets',
    });
    // The others go on.
    expect(engine.status().filter((s) => s.status === 'stalled')).toHaveLength(1);
    await seedMissions(f.app, 2, 3);
    const later = await f.store.headPosition();
    expect(await engine.waitFor('mission_state', later, 10_000)).toBe(true);
    await rebuildProjection({ store: f.store, db: rm.db, schema: rm.schema, pure: v2 });
    const checkpoint = (await readCheckpoints(rm.db, rm.schema, ['budgets'])).get('budgets');
    expect(checkpoint).toMatchObject({ version: 2, error: null });
    expect(checkpoint!.position).toBeGreaterThanOrEqual(head);
    // The engine picks the cleared projection up again (within its lock poll) and follows the
    // log with it.
    await expect.poll(() => budgets().status, { timeout: 10_000 }).toBe('running');
    expect(await engine.waitFor('budgets', later, 10_000)).toBe(true);
    expect(budgets()).toMatchObject({ status: 'running', error: null });
  }, 60_000);
});

describe('replay integrity on PGlite', () => {
  it('rebuilds and verifies on the shared embedded connection', async () => {
    const f = await open('pglite:memory');
    await seedMissions(f.app, 60);
    const head = await caughtUp(f);
    expectIdentical(await verify(f), head);
    const rm = f.app.readModels;
    await sql`update ${rm.table('mission_health', 'mission_health_status_counts')}
                 set row = jsonb_set(row, '{missions}', '0')`.execute(rm.db);
    const edited = await verify(f);
    expect(edited.projections.find((p) => p.projection === 'mission_health')!.status).toBe(
      'different',
    );
    await rebuildProjection({
      store: f.store,
      db: rm.db,
      schema: rm.schema,
      pure: pureProjections.find((p) => p.name === 'mission_health')!,
    });
    await seedMissions(f.app, 6, 2);
    const again = await caughtUp(f); // before verifying: verify compares at the live checkpoints
    expectIdentical(await verify(f), again);
  }, 120_000);
});
