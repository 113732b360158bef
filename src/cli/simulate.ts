import { createReadStream } from 'node:fs';
import { writeFile } from 'node:fs/promises';
import { createInterface } from 'node:readline';
import { LedgerError } from '../errors.ts';
import { activatePolicy } from '../policy/active-policy.ts';
import { environments, type Environment } from '../policy/modes.ts';
import { reportJson, reportText } from '../simulation/report.ts';
import { simulate } from '../simulation/simulator.ts';
import { loadNamedProfile } from './policy-config.ts';
import { progressOnTerminal, type ProgressStream } from './progress.ts';

export interface SimulateOptions {
  trace: string;
  profile: string;
  env: string;
  mode?: string;
  out?: string;
  json?: boolean;
}

/**
 * `ledger simulate --trace FILE --profile P --env E [--mode warn] [--out REPORT.json] [--json]`:
 * runs a trace through the command path under a policy held fixed and prints the report (text,
 * or its canonical JSON with --json); --out writes the canonical JSON to a file as well.
 * A profile file needs no signature: a simulation enforces nothing.
 */
export async function runSimulate(
  options: SimulateOptions,
  io: { stdout?: NodeJS.WritableStream; stderr?: ProgressStream } = {},
): Promise<void> {
  const { stdout = process.stdout, stderr = process.stderr } = io;
  const environment = parseEnvironment(options.env);
  if (options.mode !== undefined && options.mode !== 'warn') {
    throw new LedgerError('CONFIGURATION_INVALID', `--mode takes warn, not ${options.mode}.`);
  }
  const profile = await loadNamedProfile(options.profile, '--profile');
  const policy = activatePolicy(profile, environment, options.mode === 'warn' ? 'warn' : null);
  const progress = progressOnTerminal({ stream: stderr });
  // The bar needs a total: on a terminal the trace is read once more to count its lines.
  const total = stderr.isTTY === true ? await countLines(options.trace) : 0;
  let report;
  try {
    report = await simulate({
      trace: createReadStream(options.trace),
      policy,
      onInput: (inputs) => progress.update('simulate', inputs, Math.max(total, inputs)),
    });
  } finally {
    progress.stop();
  }
  const json = reportJson(report);
  if (options.out !== undefined) await writeFile(options.out, json);
  stdout.write(options.json === true ? json : reportText(report));
}

function parseEnvironment(env: string): Environment {
  const known = environments as readonly string[];
  if (known.includes(env)) return env as Environment;
  throw new LedgerError(
    'CONFIGURATION_INVALID',
    `--env takes ${environments.join(', ')}, not ${JSON.stringify(env)}.`,
  );
}

async function countLines(path: string): Promise<number> {
  let lines = 0;
  for await (const text of createInterface({ input: createReadStream(path), crlfDelay: Infinity }))
    if (text.trim() !== '') lines += 1;
  return lines;
}
