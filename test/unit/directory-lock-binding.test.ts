import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it, vi } from 'vitest';
import { isLedgerError } from '../../src/errors.ts';

/*
 * A platform the native lock binding has no binary for (musl libc, FreeBSD, 32-bit), simulated by
 * making the binding fail to load the way require-addon does there.
 */
vi.doMock('fs-native-extensions', () => {
  throw Object.assign(new Error("Cannot find addon '.' imported from 'fs-native-extensions'"), {
    code: 'ADDON_NOT_FOUND',
  });
});

const { openStore } = await import('../../src/store/open-store.ts');
const dir = await mkdtemp(join(tmpdir(), 'ledger-nolock-'));

afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe('the directory lock without its native binding', () => {
  it('refuses a PGlite directory, saying why and what to use instead', async () => {
    let thrown: unknown;
    await openStore(`pglite:${dir}`).catch((error: unknown) => (thrown = error));
    expect(isLedgerError(thrown, 'CONFIGURATION_INVALID')).toBe(true);
    const message = (thrown as Error).message;
    expect(message).toContain(`The embedded store ${dir} cannot be locked on ${process.platform}`);
    expect(message).toContain('use pglite:memory or a postgres:// store');
    expect(message).not.toContain('\n');
  });

  it('still opens the in-memory store', async () => {
    const store = await openStore('pglite:memory');
    try {
      await store.append('s', [{ type: 't', data: {} }]);
      expect(await store.headPosition()).toBe(1);
    } finally {
      await store.close();
    }
  });
});
