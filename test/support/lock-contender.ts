/*
 * A process that contends for an embedded store's directory lock, driven line by line so that a
 * test can start several at the same instant:
 *
 *   node --import tsx test/support/lock-contender.ts DIR
 *
 * It prints `ready` once loaded, then obeys stdin: `go` tries the lock and prints `locked` or
 * `refused <code> <message>` (a refused contender exits); `release` releases a held lock, prints
 * `released` and exits. A contender that holds the lock keeps it until released or killed.
 */
import { createInterface } from 'node:readline';
import { isLedgerError } from '../../src/errors.ts';
import { acquireDirectoryLock } from '../../src/store/sql/directory-lock.ts';

const dir = process.argv[2];
if (dir === undefined) throw new Error('usage: lock-contender.ts DIR');

let release: (() => Promise<void>) | undefined;
const commands = createInterface({ input: process.stdin });

async function obey(command: string): Promise<void> {
  if (command === 'go') {
    try {
      release = await acquireDirectoryLock(dir!);
      console.log('locked');
    } catch (error) {
      if (!isLedgerError(error)) throw error;
      console.log(`refused ${error.code} ${error.message}`);
      process.exit(0);
    }
  } else if (command === 'release') {
    await release?.();
    console.log('released');
    process.exit(0);
  }
}

commands.on('line', (line) => void obey(line.trim()));
console.log('ready');
