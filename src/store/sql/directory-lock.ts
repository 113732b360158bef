import { mkdir, open, readFile, rm } from 'node:fs/promises';
import { resolve } from 'node:path';
import { LedgerError } from '../../errors.ts';

const LOCK_FILE = 'ledger.lock';
/** Directories this process holds: a lock file naming our own pid may be stale (pid reuse), these are not. */
const heldHere = new Set<string>();

function processAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    // EPERM: the process exists but belongs to someone else.
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/**
 * Takes an exclusive lock on an embedded data directory for this process, clearing a lock left by
 * a process that no longer runs. Returns the function that releases it.
 */
export async function acquireDirectoryLock(dir: string): Promise<() => Promise<void>> {
  await mkdir(dir, { recursive: true });
  const path = resolve(dir, LOCK_FILE);
  if (heldHere.has(path)) {
    throw new LedgerError(
      'CONFIGURATION_INVALID',
      `The embedded store ${dir} is already open in this process.`,
      { dir },
    );
  }
  for (let attempt = 0; attempt < 2; attempt += 1) {
    try {
      const handle = await open(path, 'wx');
      await handle.writeFile(String(process.pid));
      await handle.close();
      heldHere.add(path);
      return async () => {
        heldHere.delete(path);
        await rm(path, { force: true });
      };
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
      const owner = Number((await readFile(path, 'utf8').catch(() => '')).trim());
      if (
        Number.isSafeInteger(owner) &&
        owner > 0 &&
        owner !== process.pid &&
        processAlive(owner)
      ) {
        throw new LedgerError(
          'CONFIGURATION_INVALID',
          `The embedded store ${dir} is in use by process ${owner}: stop it first (one process may open a PGlite directory).`,
          {
            dir,
            pid: owner,
          },
        );
      }
      await rm(path, { force: true });
    }
  }
  throw new LedgerError('CONFIGURATION_INVALID', `Could not lock the embedded store ${dir}.`, {
    dir,
  });
}
