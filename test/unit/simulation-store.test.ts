import { tmpdir } from 'node:os';
import { readdirSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { SimulationStore } from '../../src/simulation/simulation-store.ts';
import type { EventStore, StoredEvent } from '../../src/store/port.ts';

const scratchDirs = () =>
  new Set(readdirSync(tmpdir()).filter((name) => name.startsWith('ledger-simulation-')));

function open(keeps: (stream: string) => boolean = () => false) {
  const appended: StoredEvent[] = [];
  const store = new SimulationStore({
    keeps,
    now: () => new Date('2025-11-20T09:00:00.000Z'),
    onAppended: (events) => appended.push(...events),
  });
  return { store, appended };
}

describe('SimulationStore', () => {
  it('reads spilled events back as they were stored, by revision and limit', async () => {
    const { store, appended } = open();
    await store.append('mission-a', [{ type: 't.one', data: { n: 1, text: 'é' } }]);
    await store.append('mission-b', [{ type: 't.one', data: { n: 2 } }]);
    await store.append('mission-a', [
      { type: 't.two', data: { n: 3 } },
      { type: 't.three', data: { n: 4 } },
    ]);
    expect(appended.map((e) => [e.stream, e.revision, e.position])).toEqual([
      ['mission-a', 0, 1],
      ['mission-b', 0, 2],
      ['mission-a', 1, 3],
      ['mission-a', 2, 4],
    ]);
    const streamA = appended.filter((e) => e.stream === 'mission-a');
    expect(await store.readStream('mission-a')).toEqual(streamA);
    expect(await store.readStream('mission-a', { fromRevision: 1, limit: 1 })).toEqual([
      streamA[1],
    ]);
    expect(await store.readStream('mission-a', { fromRevision: 3 })).toEqual([]);
    expect(await store.readStream('mission-none')).toEqual([]);
    expect(appended[0]?.metadata.recorded_at).toBe('2025-11-20T09:00:00.000Z');
    expect(await store.headPosition()).toBe(4);
    await store.close();
  });

  it('keeps the streams it is told to in memory, where retries are answered as duplicates', async () => {
    const { store } = open((stream) => stream === 'ledger-keys');
    const event = { type: 'key.registered', data: { k: 1 }, metadata: { idempotency_key: 'k1' } };
    const first = await store.append('ledger-keys', [event]);
    const retry = await store.append('ledger-keys', [event]);
    expect(retry).toMatchObject({
      duplicate: true,
      revisions: [0],
      positions: [first.positions[0]],
    });
    expect(await store.readStream('ledger-keys')).toHaveLength(1);
    await store.close();
  });

  it('enforces the expected revision', async () => {
    const { store } = open();
    await store.append('mission-a', [{ type: 't', data: {} }], { expectedRevision: 'no_stream' });
    await expect(
      store.append('mission-a', [{ type: 't', data: {} }], { expectedRevision: 'no_stream' }),
    ).rejects.toMatchObject({ code: 'EXPECTED_REVISION_CONFLICT' });
    await store.append('mission-a', [{ type: 't', data: {} }], { expectedRevision: 0 });
    expect(await store.headPosition()).toBe(2);
    await store.close();
  });

  it('has no global log, and leaves no scratch file behind even while open', async () => {
    const before = scratchDirs();
    const { store } = open();
    await store.append('mission-a', [{ type: 't', data: { n: 1 } }]);
    expect(await store.readStream('mission-a')).toHaveLength(1);
    expect([...scratchDirs()].filter((name) => !before.has(name))).toEqual([]);
    const port: EventStore = store;
    await expect(port.readAll({ limit: 1 })).rejects.toThrow('no global log');
    await store.close();
    await expect(store.readStream('mission-a')).rejects.toMatchObject({ code: 'STORE_CLOSED' });
  });
});
