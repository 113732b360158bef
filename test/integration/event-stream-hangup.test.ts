import { request } from 'node:http';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openStore } from '../../src/store/open-store.ts';
import type { EventStore } from '../../src/store/port.ts';
import { TOKENS, startApp, type TestApp } from '../support/http-app.ts';
import { dropSchemas, freshSchemaName, storeUrl } from '../support/postgres.ts';

/** Timers alive in this process: each stream that never ended keeps its heartbeat. */
const timers = () => process.getActiveResourcesInfo().filter((r) => r === 'Timeout').length;

const LOG_EVENTS = 3_000;
const CLIENTS = 60;

/**
 * Opens an event stream from the start of the log and hangs up: at the response headers (the
 * first catch-up read is in flight), after the first chunk of events (later reads in flight, the
 * socket filling), or after never reading at all (a socket that will not drain).
 */
function hangUp(app: TestApp, when: 'headers' | 'first-data' | 'unread'): Promise<void> {
  return new Promise((resolve) => {
    const req = request(`${app.base}/v1/events/stream?after=0`, {
      headers: { authorization: `Bearer ${TOKENS.auditor}` },
    });
    req.on('error', () => resolve());
    req.on('close', () => resolve());
    req.on('response', (res) => {
      if (when === 'headers') req.destroy();
      else if (when === 'unread') {
        res.pause();
        setTimeout(() => req.destroy(), 200);
      } else res.once('data', () => req.destroy());
    });
    req.end();
  });
}

describe.each([
  ['PGlite', () => 'pglite:memory'],
  ['PostgreSQL', () => storeUrl(freshSchemaName('sse'))],
])('event streams whose clients hang up mid catch-up, on %s', (_name, url) => {
  let store: EventStore;
  let app: TestApp;

  beforeAll(async () => {
    store = await openStore(url(), { pollIntervalMs: 200 });
    // Large enough events that a page of the log fills a socket: the catch-up read and the
    // backpressure wait are where a hang-up lands.
    const filler = 'x'.repeat(2_000);
    for (let i = 0; i < LOG_EVENTS; i += 100) {
      await store.append(
        `sse-load-${i}`,
        Array.from({ length: 100 }, (_, k) => ({ type: 'load', data: { i: i + k, filler } })),
      );
    }
    app = await startApp({ store });
  });
  afterAll(async () => {
    await app?.close();
    await store?.close();
    await dropSchemas();
  });

  it('frees every stream and its timers, and shutdown then completes at once', async () => {
    const baseline = timers();
    expect(app.openStreams.size).toBe(0);

    // The count is of running handlers: an open stream is counted.
    const open = new AbortController();
    const counted = await fetch(`${app.base}/v1/events/stream?after=${LOG_EVENTS}`, {
      headers: { authorization: `Bearer ${TOKENS.auditor}` },
      signal: open.signal,
    });
    expect(counted.status).toBe(200);
    await expect.poll(() => app.openStreams.size).toBe(1);
    open.abort();
    await expect.poll(() => app.openStreams.size).toBe(0);

    const kinds = ['headers', 'first-data', 'unread'] as const;
    await Promise.all(
      Array.from({ length: CLIENTS }, (_, i) => hangUp(app, kinds[i % kinds.length]!)),
    );

    await expect.poll(() => app.openStreams.size, { timeout: 15_000 }).toBe(0);
    // Heartbeats and subscription wake-up timers are gone with their streams.
    await expect.poll(timers, { timeout: 15_000 }).toBeLessThanOrEqual(baseline + 3);

    const started = performance.now();
    await app.shutDown();
    expect(performance.now() - started).toBeLessThan(2_000);
  });
});
