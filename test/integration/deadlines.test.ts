import { sql } from 'kysely';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { isLedgerError } from '../../src/errors.ts';
import { openStore } from '../../src/store/open-store.ts';
import type { EventStore } from '../../src/store/port.ts';
import type { SqlEventStore } from '../../src/store/sql/sql-store.ts';
import { translateSqlError } from '../../src/store/sql/translate-error.ts';
import { TOKENS, startApp, type TestApp } from '../support/http-app.ts';
import { dispatchPayload } from '../support/mission-fixtures.ts';
import { dropSchemas, freshSchemaName, storeUrl } from '../support/postgres.ts';

const REQUEST_TIMEOUT_MS = 800;

/** A gate the store's commits wait at while it is shut: a database that does not answer. */
class CommitGate {
  private opened: (() => void) | undefined;
  private shut: Promise<void> | undefined;
  close(): void {
    this.shut = new Promise((resolve) => (this.opened = resolve));
  }
  open(): void {
    this.opened?.();
    this.shut = undefined;
  }
  readonly wait = (): Promise<void> => this.shut ?? Promise.resolve();
}

afterAll(async () => {
  await dropSchemas();
});

describe.each([
  ['PGlite', () => 'pglite:memory'],
  ['PostgreSQL', () => storeUrl(freshSchemaName('deadline'))],
])('request deadlines on %s', (_name, url) => {
  const gate = new CommitGate();
  let store: EventStore;
  let app: TestApp;

  beforeAll(async () => {
    store = await openStore(url(), { beforeCommit: gate.wait });
    app = await startApp({ store, requestTimeoutMs: REQUEST_TIMEOUT_MS });
  });
  afterEach(() => gate.open());
  afterAll(async () => {
    gate.open();
    await app?.close();
    await store?.close();
  });

  it('answers a write that cannot finish 503 DEADLINE_EXCEEDED in time; a retry with its key learns that it committed', async () => {
    const payload = dispatchPayload();
    gate.close();
    const started = performance.now();
    const timedOut = await app.call('POST', '/v1/missions', {
      token: TOKENS.operator,
      body: payload,
    });
    const elapsed = performance.now() - started;
    expect(timedOut.status).toBe(503);
    expect(timedOut.body.error?.code).toBe('DEADLINE_EXCEEDED');
    expect(timedOut.headers.get('retry-after')).toBe('1');
    expect(elapsed).toBeGreaterThanOrEqual(REQUEST_TIMEOUT_MS - 50);
    expect(elapsed).toBeLessThan(REQUEST_TIMEOUT_MS + 1_000);

    // The database answers again: the write that was cut off commits after all.
    gate.open();
    let retried = await app.call('POST', '/v1/missions', { token: TOKENS.operator, body: payload });
    for (let i = 0; i < 50 && retried.status === 503; i += 1) {
      await new Promise((resolve) => setTimeout(resolve, 100));
      retried = await app.call('POST', '/v1/missions', { token: TOKENS.operator, body: payload });
    }
    expect(retried.status, JSON.stringify(retried.body)).toBe(200);
    expect(retried.body).toMatchObject({ mission_id: payload.mission_id, duplicate: true });
    const stream = await store.readStream(`mission-${payload.mission_id}`);
    expect(stream.map((e) => e.type)).toEqual(['mission.dispatched']);
    expect(retried.body.position).toBe(stream[0]?.position);
  });

  it('leaves quick requests alone', async () => {
    const payload = dispatchPayload();
    const res = await app.call('POST', '/v1/missions', { token: TOKENS.operator, body: payload });
    expect(res.status).toBe(201);
    await new Promise((resolve) => setTimeout(resolve, REQUEST_TIMEOUT_MS + 200));
    const read = await app.call('GET', `/v1/missions/${payload.mission_id}`, {
      token: TOKENS.operator,
    });
    expect(read.status).toBe(200);
  });

  it('reports a stalled projection as degraded, yet keeps the process in the load balancer', async () => {
    const ready = await app.call<{ status: string }>('GET', '/v1/readyz');
    expect(ready.status).toBe(200);
    expect(ready.body.status).toBe('ready');

    // A dispatch edited behind the ledger's back: mission_state cannot apply it and stalls.
    const { positions } = await store.append('mission-msn_t_malformed', [
      { type: 'mission.dispatched', data: { mission_id: 42 } },
    ]);
    await app.readModels
      .waitFor('mission_state', positions[0]!, 5_000)
      .catch((error: unknown) => expect(isLedgerError(error, 'PROJECTION_STALLED')).toBe(true));

    const degraded = await app.call<{
      status: string;
      stalled: string[];
      store: { status: string };
      projections: { name: string; status: string }[];
    }>('GET', '/v1/readyz');
    expect(degraded.status).toBe(200);
    expect(degraded.body.status).toBe('degraded');
    expect(degraded.body.store.status).toBe('up');
    expect(degraded.body.stalled).toContain('mission_state');
    expect(degraded.body.projections.find((p) => p.name === 'mission_state')?.status).toBe(
      'stalled',
    );
  });
});

describe('the PostgreSQL store bounds every call', () => {
  let store: EventStore;

  beforeAll(async () => {
    store = await openStore(storeUrl(freshSchemaName('deadline')), {
      deadlines: { timeoutMs: 300, keepAliveDelayMs: 1_000 },
    });
  });
  afterAll(async () => {
    await store?.close();
  });

  it('sets statement, lock and idle-in-transaction timeouts on its connections', async () => {
    const db = (store as SqlEventStore).database;
    const { rows } = await sql<{
      statement: string;
      lock: string;
      idle: string;
    }>`select current_setting('statement_timeout') as statement,
              current_setting('lock_timeout') as lock,
              current_setting('idle_in_transaction_session_timeout') as idle`.execute(db);
    expect(rows[0]).toEqual({ statement: '300ms', lock: '300ms', idle: '300ms' });
  });

  it('cuts a statement off at its deadline and calls that STORE_UNAVAILABLE', async () => {
    const db = (store as SqlEventStore).database;
    const started = performance.now();
    const error = await sql`select pg_sleep(3)`.execute(db).then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(performance.now() - started).toBeLessThan(2_000);
    const translated = translateSqlError(error);
    expect(translated.code).toBe('STORE_UNAVAILABLE');
    expect(translated.details).toMatchObject({ timeout: true, sqlstate: '57014' });
    // The connection is still good for the next call.
    await expect(store.ping()).resolves.toBeUndefined();
  });
});
