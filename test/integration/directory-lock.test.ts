import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { isLedgerError } from '../../src/errors.ts';
import { acquireDirectoryLock } from '../../src/store/sql/directory-lock.ts';

/*
 * The lock that keeps a second process, or a second open in this process, away from a PGlite
 * directory. Contenders are separate processes (test/support/lock-contender.ts) because what is
 * under test is what the operating system does between processes, including after a kill -9.
 */

const CONTENDER = fileURLToPath(new URL('../support/lock-contender.ts', import.meta.url));
/** Every wait on a child is bounded: a hung contender fails the test instead of stalling it. */
const WAIT_MS = 30_000;

const dirs: string[] = [];
const children: ChildProcess[] = [];

async function tempDir(): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'ledger-lock-'));
  dirs.push(dir);
  return dir;
}

const lockFile = (dir: string) => join(dir, 'ledger.lock');

interface Contender {
  pid: number;
  child: ChildProcess;
  /** The next line the contender prints. */
  next: () => Promise<string>;
  say: (command: 'go' | 'release') => void;
  exited: Promise<unknown>;
}

/** Starts a contender for `dir` and waits until it is loaded and ready to try the lock. */
async function contender(dir: string): Promise<Contender> {
  const child = spawn(process.execPath, ['--import', 'tsx', CONTENDER, dir], {
    stdio: ['pipe', 'pipe', 'pipe'],
  });
  children.push(child);
  let stderr = '';
  child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  const exited = new Promise((resolve) => child.once('exit', resolve));
  const lines: string[] = [];
  const waiting: ((line: string | undefined) => void)[] = [];
  let ended = false;
  const reader = createInterface({ input: child.stdout });
  reader.on('line', (line) => {
    const waiter = waiting.shift();
    if (waiter === undefined) lines.push(line);
    else waiter(line);
  });
  reader.on('close', () => {
    ended = true;
    waiting.splice(0).forEach((waiter) => waiter(undefined));
  });
  const next = async (): Promise<string> => {
    let timer: NodeJS.Timeout | undefined;
    const line = await Promise.race([
      lines.length > 0 || ended
        ? Promise.resolve(lines.shift())
        : new Promise<string | undefined>((resolve) => waiting.push(resolve)),
      new Promise<never>((_, reject) => {
        timer = setTimeout(
          () => reject(new Error(`contender ${child.pid} said nothing for ${WAIT_MS} ms`)),
          WAIT_MS,
        );
      }),
    ]).finally(() => clearTimeout(timer));
    if (line === undefined) throw new Error(`contender ${child.pid} ended: ${stderr}`);
    return line;
  };
  const say = (command: 'go' | 'release') => void child.stdin.write(`${command}\n`);
  expect(await next()).toBe('ready');
  return { pid: child.pid!, child, next, say, exited };
}

async function kill(holder: Contender, signal: NodeJS.Signals): Promise<void> {
  holder.child.kill(signal);
  await holder.exited;
}

afterEach(async () => {
  await Promise.all(
    children.splice(0).map(async (child) => {
      if (child.exitCode === null && child.signalCode === null) {
        child.kill('SIGKILL');
        await new Promise((resolve) => child.once('exit', resolve));
      }
    }),
  );
});

afterAll(async () => {
  await Promise.all(dirs.map((dir) => rm(dir, { recursive: true, force: true })));
});

describe('the embedded store directory lock', () => {
  it('lets exactly one of six simultaneous starts in, each time after a kill -9 of the holder', async () => {
    const dir = await tempDir();
    const first = await contender(dir);
    first.say('go');
    expect(await first.next()).toBe('locked');
    let killed = first;
    await kill(killed, 'SIGKILL');

    for (let trial = 0; trial < 5; trial += 1) {
      // The killed holder could not clean up: the lock file still names it.
      expect((await readFile(lockFile(dir), 'utf8')).trim()).toBe(String(killed.pid));
      const contenders = await Promise.all(Array.from({ length: 6 }, () => contender(dir)));
      // All are loaded before any tries, so their attempts meet within a few milliseconds.
      contenders.forEach((c) => c.say('go'));
      const outcomes = await Promise.all(contenders.map((c) => c.next()));

      const winners = contenders.filter((_, i) => outcomes[i] === 'locked');
      expect(winners, `trial ${trial}: ${outcomes.join(' | ')}`).toHaveLength(1);
      const refusals = outcomes.filter((o) => o !== 'locked');
      expect(refusals).toHaveLength(5);
      for (const refusal of refusals) {
        expect(refusal).toMatch(
          /^refused CONFIGURATION_INVALID The embedded store .+ is in use by (process \d+|another process): stop it first/,
        );
      }
      killed = winners[0]!;
      await kill(killed, 'SIGKILL');
    }
  }, 180_000); // 31 process starts

  it('is not blocked by a leftover lock file naming a live process that does not hold the lock', async () => {
    const dir = await tempDir();
    const unrelated = spawn('sleep', ['60'], { stdio: 'ignore' });
    children.push(unrelated);
    // A pid reused by an unrelated process, and our own pid, which a reused pid can also be.
    for (const pid of [unrelated.pid!, process.ppid, process.pid]) {
      await writeFile(lockFile(dir), String(pid));
      const release = await acquireDirectoryLock(dir);
      expect((await readFile(lockFile(dir), 'utf8')).trim()).toBe(String(process.pid));
      await release();
    }
  });

  it('is released when its holder closes it and when its holder dies', async () => {
    const dir = await tempDir();
    const release = await acquireDirectoryLock(dir);
    await release();
    await release(); // a second release is harmless

    const holder = await contender(dir);
    holder.say('go');
    expect(await holder.next()).toBe('locked');
    holder.say('release');
    expect(await holder.next()).toBe('released');
    await holder.exited;
    await (
      await acquireDirectoryLock(dir)
    )();

    for (const signal of ['SIGKILL', 'SIGTERM'] as const) {
      const doomed = await contender(dir);
      doomed.say('go');
      expect(await doomed.next()).toBe('locked');
      await kill(doomed, signal);
      await (
        await acquireDirectoryLock(dir)
      )();
    }
  });

  it('refuses a second open in the same process and names the holder to another process', async () => {
    const dir = await tempDir();
    const release = await acquireDirectoryLock(dir);
    try {
      let thrown: unknown;
      await acquireDirectoryLock(dir).catch((error: unknown) => (thrown = error));
      expect(isLedgerError(thrown, 'CONFIGURATION_INVALID')).toBe(true);
      expect((thrown as Error).message).toBe(
        `The embedded store ${dir} is already open in this process.`,
      );

      // The refused open left the lock held: another process is refused too, told who holds it.
      const other = await contender(dir);
      other.say('go');
      expect(await other.next()).toBe(
        `refused CONFIGURATION_INVALID The embedded store ${dir} is in use by process ${process.pid}: stop it first (one process may open a PGlite directory).`,
      );
    } finally {
      await release();
    }
    const after = await contender(dir);
    after.say('go');
    expect(await after.next()).toBe('locked');
  });
});
