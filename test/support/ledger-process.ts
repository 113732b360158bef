import { spawn, type ChildProcess } from 'node:child_process';

/** The `ledger` command as `npx ledger` runs it. */
export const LEDGER_BIN = new URL('../../bin/ledger.js', import.meta.url).pathname;

/** A `ledger serve` child process, up and listening. */
export interface ServedLedger {
  child: ChildProcess;
  url: string;
  stderr: () => string;
  exited: Promise<number | null>;
  /** SIGTERM, then its exit code. */
  stop: () => Promise<number | null>;
}

/**
 * Starts `ledger serve` (or `ledger ARGS`) on a free port in `cwd` with `env`, and waits for its
 * banner's url.
 */
export async function startLedger(
  env: Record<string, string>,
  cwd: string,
  args: readonly string[] = ['serve'],
): Promise<ServedLedger> {
  const child = spawn(process.execPath, [LEDGER_BIN, ...args], {
    cwd,
    env: { ...process.env, PORT: '0', LOG_LEVEL: 'warn', ...env },
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  let err = '';
  child.stderr?.on('data', (chunk: Buffer) => (err += chunk.toString()));
  const exited = new Promise<number | null>((resolve) =>
    child.once('exit', (code) => resolve(code)),
  );
  const url = await new Promise<string>((resolve, reject) => {
    const timer = setInterval(() => {
      // `ledger serve` names its url; `ledger projector` has none and names its read models.
      const match = /url\s+(http:\/\/\S+)|(read models)\s/.exec(err);
      if (match) {
        clearInterval(timer);
        resolve(match[1] ?? '');
      }
    }, 50);
    void exited.then((code) => {
      clearInterval(timer);
      reject(new Error(`ledger ${args.join(' ')} exited with ${code}: ${err}`));
    });
  });
  const stop = async () => {
    child.kill('SIGTERM');
    return exited;
  };
  return { child, url, stderr: () => err, exited, stop };
}

/** What a finished `ledger` command printed, and its exit code. */
export interface LedgerRun {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** Runs `ledger ARGS...` to its end, stderr a pipe (not a terminal), stdin closed. */
export async function runLedger(
  args: string[],
  options: { cwd: string; env?: Record<string, string> },
): Promise<LedgerRun> {
  const child = spawn(process.execPath, [LEDGER_BIN, ...args], {
    cwd: options.cwd,
    env: { ...process.env, LOG_LEVEL: 'warn', ...options.env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stdout = '';
  let stderr = '';
  child.stdout?.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
  child.stderr?.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  // 'close', not 'exit': it comes after the last output has been read.
  const code = await new Promise<number | null>((resolve) =>
    child.once('close', (c) => resolve(c)),
  );
  return { code, stdout, stderr };
}
