import { EventSource } from 'eventsource';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openStore } from '../../src/store/open-store.ts';
import type { EventStore, StoredEvent } from '../../src/store/port.ts';
import { TOKENS, startApp, type TestApp } from '../support/http-app.ts';
import { dropSchemas, freshSchemaName, storeUrl } from '../support/postgres.ts';

/**
 * A real EventSource client on /v1/events/stream with the bearer token. The first cursor goes in
 * `?after=`; on a reconnect the client sends its own Last-Event-ID header, which the server prefers.
 * Every frame names its event type (`event:`), so the client listens for `types` by name.
 */
function connect(app: TestApp, token: string, after?: string, types: readonly string[] = ['e']) {
  const received: StoredEvent[] = [];
  const errors: unknown[] = [];
  const query = after === undefined ? '' : `?after=${after}`;
  const source = new EventSource(`${app.base}/v1/events/stream${query}`, {
    fetch: (input, init) =>
      fetch(input, { ...init, headers: { ...init?.headers, authorization: `Bearer ${token}` } }),
  });
  for (const type of types)
    source.addEventListener(type, (message) =>
      received.push(JSON.parse(String(message.data)) as StoredEvent),
    );
  source.onerror = (error) => errors.push(error);
  return { source, received, errors };
}

const positions = (events: StoredEvent[]) => events.map((e) => e.position);

describe.each([
  ['PGlite', () => 'pglite:memory'],
  ['PostgreSQL', () => storeUrl(freshSchemaName())],
])('live tail over Server-Sent Events on %s', (_name, url) => {
  let store: EventStore;
  let app: TestApp;

  beforeAll(async () => {
    store = await openStore(url(), { pollIntervalMs: 200 });
    app = await startApp({ store });
  });
  afterAll(async () => {
    await app.close();
    await store.close();
    await dropSchemas();
  });

  it('catches up, follows live appends, and resumes after a disconnect without gaps or repeats', async () => {
    const start = await store.headPosition();
    for (let i = 0; i < 5; i += 1) await store.append(`sse-${i % 2}`, [{ type: 'e', data: { i } }]);

    const first = connect(app, TOKENS.auditor, String(start));
    await expect.poll(() => first.received.length, { timeout: 10_000 }).toBe(5);
    await store.append('sse-live', [{ type: 'e', data: { i: 5 } }]);
    await expect.poll(() => first.received.length, { timeout: 10_000 }).toBe(6);
    first.source.close();
    const last = first.received.at(-1)!;

    // While nobody listens, the log moves on; the resumed client must get exactly those events.
    for (let i = 6; i < 10; i += 1) await store.append('sse-gap', [{ type: 'e', data: { i } }]);
    const resumed = connect(app, TOKENS.auditor, String(last.position));
    await expect.poll(() => resumed.received.length, { timeout: 10_000 }).toBe(4);
    resumed.source.close();

    const all = [...first.received, ...resumed.received];
    expect(all.map((e) => e.data.i)).toEqual([0, 1, 2, 3, 4, 5, 6, 7, 8, 9]);
    expect(positions(all)).toEqual(Array.from({ length: 10 }, (_, k) => start + 1 + k));
  });

  it('lets the EventSource client resume by itself with Last-Event-ID after the server drops it', async () => {
    const start = await store.headPosition();
    const client = connect(app, TOKENS.operator, String(start));
    await store.append('sse-auto', [{ type: 'e', data: { n: 1 } }]);
    await expect.poll(() => client.received.length, { timeout: 10_000 }).toBe(1);
    // Sever every open connection: the client reconnects on its own, sending Last-Event-ID.
    app.dropConnections();
    await store.append('sse-auto', [{ type: 'e', data: { n: 2 } }]);
    await expect.poll(() => client.received.length, { timeout: 10_000 }).toBe(2);
    client.source.close();
    expect(client.received.map((e) => e.data.n)).toEqual([1, 2]);
    expect(client.errors.length).toBeGreaterThan(0);
  });

  it('resumes from a Last-Event-ID header', async () => {
    const start = await store.headPosition();
    for (let i = 0; i < 3; i += 1) await store.append('sse-header', [{ type: 'e', data: { i } }]);
    const res = await fetch(`${app.base}/v1/events/stream`, {
      headers: { authorization: `Bearer ${TOKENS.operator}`, 'last-event-id': String(start + 1) },
    });
    expect(res.headers.get('content-type')).toContain('text/event-stream');
    const reader = res.body!.getReader();
    let text = '';
    while ((text.match(/^id: /gm) ?? []).length < 2)
      text += new TextDecoder().decode((await reader.read()).value as Uint8Array | undefined);
    await reader.cancel();
    expect([...text.matchAll(/^id: (\d+)$/gm)].map((m) => Number(m[1]))).toEqual([
      start + 2,
      start + 3,
    ]);
  });

  it('names each event by its type, so a client can listen for one type only', async () => {
    const start = await store.headPosition();
    await store.append('sse-typed', [
      { type: 'mission.progress', data: { n: 1 } },
      { type: 'mission.completed', data: { n: 2 } },
      { type: 'mission.progress', data: { n: 3 } },
    ]);
    const client = connect(app, TOKENS.operator, String(start), ['mission.completed']);
    const everything = connect(app, TOKENS.operator, String(start), [
      'mission.progress',
      'mission.completed',
    ]);
    await expect.poll(() => everything.received.length, { timeout: 10_000 }).toBe(3);
    await expect.poll(() => client.received.length, { timeout: 10_000 }).toBe(1);
    client.source.close();
    everything.source.close();
    expect(client.received.map((e) => [e.type, e.data.n])).toEqual([['mission.completed', 2]]);
    // The default 'message' event is not what typed frames arrive as.
    expect(everything.received.map((e) => e.position)).toEqual([start + 1, start + 2, start + 3]);
  });

  it('sends a type that holds a line break as a plain message instead of breaking the framing', async () => {
    const start = await store.headPosition();
    await store.append('sse-odd-type', [{ type: 'odd\ntype', data: { n: 1 } }]);
    const res = await fetch(`${app.base}/v1/events/stream?cursor=${start}`, {
      headers: { authorization: `Bearer ${TOKENS.operator}` },
    });
    const reader = res.body!.getReader();
    let text = '';
    while (!/^data: /m.test(text))
      text += new TextDecoder().decode((await reader.read()).value as Uint8Array | undefined);
    await reader.cancel();
    expect(text).toContain(`id: ${start + 1}\ndata: {`);
    expect(text).not.toMatch(/^event:/m);
  });

  it('refuses a bad cursor and callers without a read role', async () => {
    const bad = await app.call('GET', '/v1/events/stream', {
      token: TOKENS.operator,
      headers: { 'last-event-id': 'abc' },
    });
    expect(bad.status).toBe(400);
    expect(bad.body).toMatchObject({ error: { code: 'INVALID_ARGUMENT' } });
    const unknown = await app.call('GET', '/v1/events/stream?from=3', { token: TOKENS.operator });
    expect(unknown.status).toBe(400);
    expect(unknown.body).toMatchObject({
      error: { code: 'INVALID_ARGUMENT', details: { parameter: 'from' } },
    });
    const factory = await app.call('GET', '/v1/events/stream', { token: TOKENS.factory });
    expect(factory.status).toBe(403);
    const nobody = await app.call('GET', '/v1/events/stream');
    expect(nobody.status).toBe(401);
  });
});
