import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { createConnection, createServer, type Server, type Socket } from 'node:net';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openStore } from '../../src/store/open-store.ts';
import type { EventStore } from '../../src/store/port.ts';
import { TOKEN_ENTRIES, TOKENS, startApp, type TestApp } from '../support/http-app.ts';
import { dispatchPayload } from '../support/mission-fixtures.ts';
import { TEST_PG_URL, dropSchemas, freshSchemaName, storeUrl } from '../support/postgres.ts';

/** A TCP proxy to PostgreSQL that can be cut (listener closed, sockets destroyed) and restored. */
class PgProxy {
  private server: Server | undefined;
  private readonly sockets = new Set<Socket>();
  private readonly pairs = new Set<[Socket, Socket]>();
  private frozen = false;
  port = 0;

  constructor(
    private readonly targetHost: string,
    private readonly targetPort: number,
  ) {}

  async start(): Promise<void> {
    this.frozen = false;
    const server = createServer((client) => {
      if (this.frozen) {
        // A connection opened while frozen hangs too: a pool that opens a fresh one for the next
        // query must not get through the dead network that way.
        this.sockets.add(client);
        client.on('close', () => this.sockets.delete(client));
        client.on('error', () => client.destroy());
        client.pause();
        return;
      }
      const upstream = createConnection({ host: this.targetHost, port: this.targetPort });
      for (const socket of [client, upstream]) {
        this.sockets.add(socket);
        socket.on('close', () => this.sockets.delete(socket));
        socket.on('error', () => {
          client.destroy();
          upstream.destroy();
        });
      }
      const pair: [Socket, Socket] = [client, upstream];
      this.pairs.add(pair);
      client.on('close', () => this.pairs.delete(pair));
      client.pipe(upstream);
      upstream.pipe(client);
    });
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(this.port, '127.0.0.1', () => resolve());
    });
    this.port = (server.address() as AddressInfo).port;
    this.server = server;
  }

  /** Stops forwarding, on open connections and new ones: queries hang, as on a dead network. */
  freeze(): void {
    this.frozen = true;
    for (const [client, upstream] of this.pairs) {
      client.unpipe(upstream);
      upstream.unpipe(client);
      client.pause();
      upstream.pause();
    }
  }

  /**
   * Forwards again, as a healed network does: open connections carry on with what they had
   * sent. Connections opened while frozen never reached PostgreSQL; they are cut.
   */
  thaw(): void {
    this.frozen = false;
    const paired = new Set([...this.pairs].flat());
    for (const socket of this.sockets) if (!paired.has(socket)) socket.destroy();
    for (const [client, upstream] of this.pairs) {
      client.pipe(upstream);
      upstream.pipe(client);
      client.resume();
      upstream.resume();
    }
  }

  async stop(): Promise<void> {
    const server = this.server;
    this.server = undefined;
    const closed = new Promise<void>((resolve) =>
      server ? server.close(() => resolve()) : resolve(),
    );
    for (const socket of this.sockets) socket.destroy();
    this.sockets.clear();
    this.pairs.clear();
    await closed;
  }
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

describe('readiness follows the store, without a restart (PostgreSQL through a TCP proxy)', () => {
  const target = new URL(TEST_PG_URL);
  const proxy = new PgProxy(target.hostname, Number(target.port || 5432));
  let store: EventStore;
  let app: TestApp;

  beforeAll(async () => {
    await proxy.start();
    const url = new URL(storeUrl(freshSchemaName('ready')));
    url.hostname = '127.0.0.1';
    url.port = String(proxy.port);
    store = await openStore(url.toString());
    app = await startApp({ store });
  });
  afterAll(async () => {
    await app?.close();
    await proxy.start().catch(() => undefined); // let the pool say goodbye, if it wants to
    await store?.close();
    await proxy.stop();
    await dropSchemas();
  });

  const readyz = () =>
    app.call<{ status: string; store: { status: string }; error?: { code: string } }>(
      'GET',
      '/v1/readyz',
    );

  async function waitForReady(timeoutMs: number): Promise<number> {
    const started = Date.now();
    for (;;) {
      const res = await readyz();
      if (res.status === 200) return Date.now() - started;
      if (Date.now() - started > timeoutMs)
        throw new Error(`still ${res.status} after ${timeoutMs} ms`);
      await sleep(100);
    }
  }

  it('is ready, degrades while the store is unreachable, and recovers by itself', async () => {
    const ready = await readyz();
    expect(ready.status).toBe(200);
    expect(ready.body).toMatchObject({ status: 'ready', store: { status: 'up' } });
    const before = dispatchPayload();
    expect(
      (await app.call('POST', '/v1/missions', { token: TOKENS.operator, body: before })).status,
    ).toBe(201);

    await proxy.stop();
    // Let the pooled connections notice while idle (the crash when one is in use is the
    // subject of the next file-level test).
    await sleep(300);

    const down = await readyz();
    expect(down.status).toBe(503);
    expect(down.body).toMatchObject({
      status: 'degraded',
      store: { status: 'down' },
      error: { code: 'STORE_UNAVAILABLE' },
    });

    const during = dispatchPayload();
    const refused = await app.call('POST', '/v1/missions', {
      token: TOKENS.operator,
      body: during,
    });
    expect(refused.status).toBe(503);
    expect(refused.body.error?.code).toBe('STORE_UNAVAILABLE');
    const read = await app.call('GET', `/v1/missions/${before.mission_id}`, {
      token: TOKENS.operator,
    });
    expect(read.status).toBe(503);
    expect(read.body.error?.code).toBe('STORE_UNAVAILABLE');
    // The process is alive and says so.
    expect((await app.call('GET', '/v1/healthz')).status).toBe(200);
    expect((await readyz()).status).toBe(503);

    await proxy.start();

    expect(await waitForReady(5000)).toBeLessThan(5000);
    expect((await readyz()).body).toMatchObject({ status: 'ready', store: { status: 'up' } });
    // The dispatch refused during the outage was not recorded; now it goes through.
    const retried = await app.call('POST', '/v1/missions', {
      token: TOKENS.operator,
      body: during,
    });
    expect(retried.status, JSON.stringify(retried.body)).toBe(201);
    expect(retried.body).toMatchObject({ mission_id: during.mission_id, revision: 0 });
    const mission = await app.call<{ status: string }>('GET', `/v1/missions/${before.mission_id}`, {
      token: TOKENS.operator,
    });
    expect(mission.status).toBe(200);
    expect(mission.body.status).toBe('queued');
  });
});

describe('deadlines during a network partition (PostgreSQL through a frozen proxy)', () => {
  const target = new URL(TEST_PG_URL);
  const proxy = new PgProxy(target.hostname, Number(target.port || 5432));
  const READYZ_MS = 300;
  const REQUEST_MS = 1_500;
  let store: EventStore;
  let app: TestApp;

  beforeAll(async () => {
    await proxy.start();
    const url = new URL(storeUrl(freshSchemaName('partition')));
    url.hostname = '127.0.0.1';
    url.port = String(proxy.port);
    store = await openStore(url.toString(), {
      deadlines: { timeoutMs: 1_000, keepAliveDelayMs: 1_000 },
    });
    app = await startApp({ store, readyzTimeoutMs: READYZ_MS, requestTimeoutMs: REQUEST_MS });
  });
  afterAll(async () => {
    proxy.thaw();
    await app?.close();
    await store?.close();
    await proxy.stop();
    await dropSchemas();
  });

  it('answers readyz and writes by their deadlines, and a retry after the partition learns the outcome', async () => {
    const before = dispatchPayload();
    expect(
      (await app.call('POST', '/v1/missions', { token: TOKENS.operator, body: before })).status,
    ).toBe(201);

    proxy.freeze();

    let started = performance.now();
    const probe = await app.call<{ status: string; store: { status: string } }>(
      'GET',
      '/v1/readyz',
    );
    expect(performance.now() - started).toBeLessThan(READYZ_MS + 700);
    expect(probe.status).toBe(503);
    expect(probe.body).toMatchObject({ status: 'degraded', store: { status: 'down' } });

    const during = dispatchPayload();
    started = performance.now();
    const write = await app.call('POST', '/v1/missions', { token: TOKENS.operator, body: during });
    expect(performance.now() - started).toBeLessThan(REQUEST_MS + 1_000);
    expect(write.status).toBe(503);
    expect(['DEADLINE_EXCEEDED', 'STORE_UNAVAILABLE']).toContain(write.body.error?.code);
    expect(write.headers.get('retry-after')).toBe('1');

    proxy.thaw();

    // Whether or not the cut-off write reached PostgreSQL, the retry with its key answers
    // the one outcome there is: created now, or the original, created then.
    let retried = await app.call('POST', '/v1/missions', { token: TOKENS.operator, body: during });
    const deadline = Date.now() + 15_000;
    while (retried.status === 503 && Date.now() < deadline) {
      await sleep(200);
      retried = await app.call('POST', '/v1/missions', { token: TOKENS.operator, body: during });
    }
    expect([200, 201], JSON.stringify(retried.body)).toContain(retried.status);
    const again = await app.call('POST', '/v1/missions', { token: TOKENS.operator, body: during });
    expect(again.status).toBe(200);
    expect(again.body).toMatchObject({ duplicate: true, position: retried.body.position });
    const stream = await store.readStream(`mission-${during.mission_id}`);
    expect(stream.map((e) => e.type)).toEqual(['mission.dispatched']);

    let ready = await app.call('GET', '/v1/readyz');
    while (ready.status !== 200 && Date.now() < deadline) {
      await sleep(200);
      ready = await app.call('GET', '/v1/readyz');
    }
    expect(ready.status).toBe(200);
  });
});

/**
 * The real `ledger serve` process, behind the proxy: PostgreSQL disappears while a query is in
 * flight on a pooled connection.
 */
describe('ledger serve survives losing PostgreSQL mid-query', () => {
  const target = new URL(TEST_PG_URL);
  const proxy = new PgProxy(target.hostname, Number(target.port || 5432));
  let child: ChildProcess | undefined;
  let dir: string;
  let base = '';
  let stderr = '';

  beforeAll(async () => {
    await proxy.start();
    dir = await mkdtemp(join(tmpdir(), 'ledger-ready-'));
    const tokensFile = join(dir, 'tokens.json');
    await writeFile(tokensFile, JSON.stringify(TOKEN_ENTRIES));
    const url = new URL(storeUrl(freshSchemaName('ready')));
    url.hostname = '127.0.0.1';
    url.port = String(proxy.port);
    child = spawn(process.execPath, ['bin/ledger.js', 'serve'], {
      cwd: new URL('../..', import.meta.url).pathname,
      env: {
        ...process.env,
        PORT: '0',
        HOST: '127.0.0.1',
        LEDGER_STORE: url.toString(),
        LEDGER_TOKENS_FILE: tokensFile,
        LEDGER_ENV: 'development',
        LOG_LEVEL: 'silent',
      },
      stdio: ['ignore', 'ignore', 'pipe'],
    });
    base = await new Promise<string>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`no banner: ${stderr}`)), 20_000);
      child!.stderr!.on('data', (chunk: Buffer) => {
        stderr += chunk.toString();
        const match = /url\s+(http:\/\/\S+)/.exec(stderr);
        if (match?.[1] !== undefined) {
          clearTimeout(timer);
          resolve(match[1]);
        }
      });
      child!.once('exit', (code) => {
        clearTimeout(timer);
        reject(new Error(`ledger serve exited (${code}): ${stderr}`));
      });
    });
  });
  afterAll(async () => {
    if (child !== undefined && child.exitCode === null && child.signalCode === null) {
      const exited = new Promise((resolve) => child!.once('exit', resolve));
      child.kill('SIGTERM');
      await Promise.race([exited, sleep(5000)]);
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
    }
    await proxy.stop();
    await rm(dir, { recursive: true, force: true });
    await dropSchemas();
  });

  const readyz = async () => {
    const res = await fetch(`${base}/v1/readyz`);
    return { status: res.status, body: (await res.json()) as { status: string } };
  };

  it('answers 503 for the query in flight and recovers, without exiting', async () => {
    expect((await readyz()).status).toBe(200);
    proxy.freeze();
    const inFlight = readyz();
    await sleep(300);
    await proxy.stop();
    const answer = await inFlight.catch(() => undefined);
    await sleep(200);
    expect(child!.exitCode, `ledger serve exited: ${stderr}`).toBeNull();
    expect(answer?.status).toBe(503);
    await proxy.start();
    const started = Date.now();
    let status = 0;
    while (Date.now() - started < 5000) {
      status = (await readyz()).status;
      if (status === 200) break;
      await sleep(100);
    }
    expect(status).toBe(200);
  });
});
