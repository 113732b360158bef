import { close, constants, ftruncate, open, read, write } from 'node:fs';
import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';
import type * as FileLocks from 'fs-native-extensions';
import { LedgerError } from '../../errors.ts';

const LOCK_FILE = 'ledger.lock';

const openFd = promisify(open);
const closeFd = promisify(close);
const truncateFd = promisify(ftruncate);
const readFd = promisify(read);
const writeFd = promisify(write);

/**
 * Takes the exclusive lock on an embedded data directory: an operating-system lock on
 * `DIR/ledger.lock`, held through a descriptor this function opens. The kernel decides who gets
 * it, atomically, and releases it when the returned function runs or when the process dies,
 * however it dies: a kill -9 leaves nothing to clear. The lock belongs to the open descriptor,
 * not to the process, so a second open in this process is refused too. The pid written into the
 * file only names the holder in the refusal; nothing reads it to decide.
 * Returns the function that releases the lock; calling it again does nothing.
 */
export async function acquireDirectoryLock(dir: string): Promise<() => Promise<void>> {
  const { tryLock } = await fileLocks(dir);
  await mkdir(dir, { recursive: true });
  // Created once, never removed and never truncated by a process that does not hold the lock:
  // the lock lives on the file's inode, and a removed file would let the next opener lock a new
  // inode while the holder of the old one still runs.
  const fd = await openFd(join(dir, LOCK_FILE), constants.O_RDWR | constants.O_CREAT, 0o644);
  try {
    if (!tryLock(fd)) throw refusal(dir, await holderHint(fd));
    await truncateFd(fd, 0);
    await writeFd(fd, String(process.pid), 0);
  } catch (error) {
    await closeFd(fd);
    throw error;
  }
  // A raw descriptor rather than a FileHandle: a FileHandle that became unreachable would be
  // closed by the garbage collector, dropping the lock under an open database.
  let released = false;
  return async () => {
    if (released) return;
    released = true;
    try {
      // Emptied while still held, so the file never names a process that has let go.
      await truncateFd(fd, 0);
    } finally {
      await closeFd(fd);
    }
  };
}

/**
 * Loads the native lock binding on first use, so that a platform it has no prebuilt binary for
 * (musl libc, FreeBSD, 32-bit) still runs the in-memory and PostgreSQL stores; only a PGlite
 * directory is refused there, because opening one unlocked risks corrupting it.
 */
async function fileLocks(dir: string): Promise<typeof FileLocks> {
  try {
    return await import('fs-native-extensions');
  } catch (error) {
    throw new LedgerError(
      'CONFIGURATION_INVALID',
      `The embedded store ${dir} cannot be locked on ${process.platform}-${process.arch} (no file-lock binding: ${(error as Error).message.split('\n')[0]}): use pglite:memory or a postgres:// store.`,
      { dir },
      { cause: error },
    );
  }
}

/** The pid the holder wrote, if it can be read (Windows locks forbid reading a locked file). */
async function holderHint(fd: number): Promise<number | undefined> {
  try {
    const { bytesRead, buffer } = await readFd(fd, Buffer.alloc(32), 0, 32, 0);
    const pid = Number(buffer.toString('utf8', 0, bytesRead).trim());
    return Number.isSafeInteger(pid) && pid > 0 ? pid : undefined;
  } catch {
    return undefined;
  }
}

function refusal(dir: string, holder: number | undefined): LedgerError {
  if (holder === process.pid) {
    return new LedgerError(
      'CONFIGURATION_INVALID',
      `The embedded store ${dir} is already open in this process.`,
      { dir, pid: holder },
    );
  }
  return new LedgerError(
    'CONFIGURATION_INVALID',
    `The embedded store ${dir} is in use by ${holder === undefined ? 'another process' : `process ${holder}`}: stop it first (one process may open a PGlite directory).`,
    holder === undefined ? { dir } : { dir, pid: holder },
  );
}
