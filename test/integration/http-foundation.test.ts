import type { AddressInfo } from 'node:net';
import type { Server } from 'node:http';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createApp } from '../../src/http/app.ts';
import { TokenAuthenticator } from '../../src/http/auth.ts';
import { createLogger } from '../../src/logger.ts';
import { openStore } from '../../src/store/open-store.ts';
import type { EventStore } from '../../src/store/port.ts';
import type { ReadModels } from '../../src/read-models/read-models.ts';
import { readModelsBeside } from '../support/http-app.ts';
import { dropSchemas, freshSchemaName, storeUrl } from '../support/postgres.ts';
import { MissionLedger } from '../../src/ledger/mission-ledger.ts';
import { KeyRegistry } from '../../src/ledger/key-registry.ts';
import { policyInForce } from '../support/policy.ts';
import { PolicyHolder } from '../../src/ledger/policy-holder.ts';
import { shippedProfiles } from '../../src/policy/shipped-profiles.ts';

const OPERATOR = 'operator-token-0123456789';
const auth = { headers: { authorization: `Bearer ${OPERATOR}` } };

describe.each([
  ['PGlite', () => 'pglite:memory'],
  ['PostgreSQL', () => storeUrl(freshSchemaName())],
])('HTTP foundation on %s', (_name, url) => {
  let store: EventStore;
  let server: Server;
  let base: string;
  let readModels: ReadModels;

  beforeAll(async () => {
    store = await openStore(url());
    readModels = readModelsBeside(store);
    await readModels.start();
    const app = createApp({
      ledger: new MissionLedger({
        store,
        now: () => new Date(),
        newId: () => 'vps_1',
        policy: () => policyInForce(),
      }),
      keys: new KeyRegistry({ store, now: () => new Date() }),
      policy: new PolicyHolder({
        store,
        profile: shippedProfiles.development,
        signedBy: null,
        environment: 'development',
        override: null,
        now: () => new Date(),
        trust: () => null,
      }),
      store,
      readModels,
      logger: createLogger('silent'),
      authenticator: new TokenAuthenticator([{ token: OPERATOR, role: 'operator' }]),
      info: { store: 'test', env: 'test', version: '0' },
    });
    server = app.listen(0, '127.0.0.1');
    await new Promise((resolve) => server.once('listening', resolve));
    base = `http://127.0.0.1:${(server.address() as AddressInfo).port}/v1`;
  });
  afterAll(async () => {
    await new Promise((resolve) => server.close(resolve));
    await readModels.stop();
    await store.close();
    await dropSchemas();
  });

  it('reports health and readiness', async () => {
    const health = await fetch(`${base}/healthz`);
    expect(health.status).toBe(200);
    expect(await health.json()).toMatchObject({ status: 'ok', env: 'test' });
    const ready = await fetch(`${base}/readyz`);
    expect(ready.status).toBe(200);
    expect(await ready.json()).toMatchObject({ status: 'ready', store: { status: 'up' } });
  });

  it('pages the global log by position', async () => {
    for (let i = 0; i < 5; i += 1) await store.append(`s-${i}`, [{ type: 'e', data: { i } }]);
    const first = (await (await fetch(`${base}/events?after=0&limit=3`, auth)).json()) as {
      events: { position: number; data: { i: number } }[];
      next_after: number;
    };
    expect(first.events.map((e) => e.data.i)).toEqual([0, 1, 2]);
    const second = (await (
      await fetch(`${base}/events?after=${first.next_after}&limit=3`, auth)
    ).json()) as typeof first;
    expect(second.events.map((e) => e.data.i)).toEqual([3, 4]);
  });

  it('answers a bad parameter with a stable error code', async () => {
    const res = await fetch(`${base}/events?limit=-1`, auth);
    expect(res.status).toBe(400);
    expect(await res.json()).toMatchObject({
      error: { code: 'INVALID_ARGUMENT', details: { parameter: 'limit', value: '-1' } },
    });
  });
});
