import { Command, Option } from 'commander';
import { isLedgerError } from '../errors.ts';
import { runEventsTail } from './events-tail.ts';
import { runKeysAdd, runKeysGenerate, runKeysList, runKeysRevoke } from './keys.ts';
import { runMigrate } from './migrate.ts';
import { runMissionsList, runMissionsShow } from './missions.ts';
import { packageVersion } from './package-version.ts';
import { runProjectionStatus, runRebuild, runRetry } from './projections.ts';
import { runProjector } from './projector.ts';
import { runPolicyShow, runPolicySign } from './policy.ts';
import { runReplay } from './replay.ts';
import { runServe } from './serve.ts';
import { runSimulate } from './simulate.ts';
import { runTokensAdd } from './tokens-add.ts';
import { runTraceExport, runTraceGenerate } from './trace.ts';
import { faultTable } from '../traces/faults.ts';

const program = new Command()
  .name('ledger')
  .description('mission-ledger: an event-sourced, verifiable ledger for AI-mission control planes')
  .version(await packageVersion(), '-V, --version', 'print the version and exit')
  .showHelpAfterError();

program
  .command('serve')
  .description('start the HTTP API (configured by PORT, HOST, LEDGER_STORE, LEDGER_ENV, ...)')
  .option(
    '--no-projections',
    'serve commands and reads without running the projections: a `ledger projector` writes the read models (PostgreSQL only)',
  )
  .action(runServe);

program
  .command('projector')
  .description(
    'run the projections alone, without the HTTP API: one process per read-model schema leads, the others stand by and take over (PostgreSQL only)',
  )
  .action(runProjector);

program
  .command('migrate')
  .description('create or upgrade the store named by LEDGER_STORE, then print its head position')
  .action(runMigrate);

program
  .command('replay')
  .description(
    'rebuild every projection from position 0 into a scratch schema; with --verify, compare it with the live read models row by row, decide every recorded input again under its recorded policy and keys, and exit 1 on any difference',
  )
  .option('--verify', 'compare with the live read models (required)')
  .option('--projection <name...>', 'only these projections')
  .option('--max-differences <n>', 'differing rows listed per table', '20')
  .option(
    '--wait-ms <ms>',
    'how long the live projections get to reach the log head; one still behind fails as lagging',
    '10000',
  )
  .option('--json', 'print the report as JSON')
  .action(runReplay);

const projectionsCommand = program
  .command('projections')
  .description('inspect and rebuild the read models');
projectionsCommand
  .command('status')
  .description("each projection's checkpoint, status and lag behind the log head")
  .action(runProjectionStatus);
projectionsCommand
  .command('rebuild')
  .argument(
    '<name>',
    'the projection (mission_state, budgets, vp_sessions, approval_queue, mission_health)',
  )
  .description(
    'rebuild one projection blue/green: the live tables keep serving until the new ones have caught up, then swap',
  )
  .action(runRebuild);
projectionsCommand
  .command('retry')
  .argument('<name>', 'a stalled projection')
  .description(
    'clear the stall of a projection (after fixing what made it stall): the running projector applies its parked event again',
  )
  .action(runRetry);

program
  .command('simulate')
  .description(
    'run a trace (JSONL) through the command path on an in-memory store under a policy held fixed; print the report (docs/simulation.md)',
  )
  .requiredOption('--trace <file>', 'the trace, one input per line')
  .requiredOption('--profile <profile>', 'a shipped profile id or a profile JSON file')
  .requiredOption('--env <environment>', 'development, staging or production')
  .option('--mode <mode>', 'warn: every enforce runs as warn (the rollback toggle)')
  .option('--out <file>', 'also write the report, canonical JSON, to this file')
  .option('--json', 'print the report as canonical JSON')
  .action((options: Parameters<typeof runSimulate>[0]) => runSimulate(options));

/** The options of the commands that read from a running `ledger serve` over its HTTP API. */
const serverOptions = (command: Command) =>
  command
    .option('--url <url>', 'the server (default http://127.0.0.1:$PORT)')
    .option(
      '--token <token>',
      'an operator or auditor token (default LEDGER_TOKEN, else the tokens file)',
    );

const policyCommand = program.command('policy').description('the policy profile');
policyCommand
  .command('show')
  .description(
    'the profile this configuration puts in force (LEDGER_POLICY_PROFILE, LEDGER_ENV, LEDGER_POLICY_MODE): its rule x mode matrix and digest',
  )
  .action(runPolicyShow);
policyCommand
  .command('sign')
  .argument('<profile>', 'a profile file, NAME.json')
  .description(
    'sign a profile file (Ed25519, detached, over its canonical JSON): writes NAME.sig.json',
  )
  .requiredOption('--key <pem>', 'the Ed25519 private key, PEM (PKCS#8)')
  .requiredOption('--key-id <id>', 'the key id the trusted keys file knows it by')
  .action(runPolicySign);

const missionsCommand = program
  .command('missions')
  .description('missions as a running `ledger serve` shows them');
serverOptions(
  missionsCommand
    .command('list')
    .description('missions, newest dispatch first (one page; --cursor continues)')
    .option(
      '--status <status>',
      'queued, running, blocked, completed, failed, cancelled or timed_out',
    )
    .option('--type <mission_type>', 'coding, research, automation or custom')
    .option('--vp <vp_id>', 'only this VP')
    .option('--limit <n>', 'missions per page, 1 to 500', '50')
    .option('--cursor <cursor>', 'the page after the one that printed it')
    .option('--json', 'print the API answer as JSON'),
).action(runMissionsList);
serverOptions(
  missionsCommand
    .command('show')
    .argument('<id>', 'the mission id')
    .description(
      "the mission's state and timeline: time, type, who, outcome, reasons of rejections",
    )
    .option('--json', 'print {mission, events} as JSON'),
).action(runMissionsShow);

const eventsCommand = program.command('events').description('the global event log');
serverOptions(
  eventsCommand
    .command('tail')
    .description(
      'the last events of the log; with --follow, every new one as it commits (Ctrl-C ends)',
    )
    .option('-n, --lines <n>', 'how many of the last events', '20')
    .option('--after <position>', 'start after this position instead')
    .option('-f, --follow', 'keep printing new events')
    .option('--json', 'one stored event as JSON per line'),
).action(runEventsTail);

const traceCommand = program
  .command('trace')
  .description('traces: JSONL files of inputs as the ledger receives them (docs/traces.md)');
traceCommand
  .command('generate')
  .description(
    'write a realistic trace, deterministically (same arguments, same bytes), with faults at the rates below',
  )
  .requiredOption('--seed <n>', 'the seed, 0 to 4294967295')
  .requiredOption('--missions <m>', 'how many missions')
  .option('--out <file>', 'write the trace here instead of stdout')
  .option('--signed', 'register keys first and sign every input but the signature faults')
  .option('--start <iso>', 'the receive time of the first line', '2026-01-01T00:00:00.000Z')
  .option(
    '--env <environment>',
    'the environment of control-plane-strict-v1 whose decisions `recorded` states (default: production when signed, staging otherwise)',
  )
  .addHelpText('after', `\nFaults, each drawn once per mission at its rate:\n${faultTable()}\n`)
  .action(runTraceGenerate);
serverOptions(
  traceCommand
    .command('export')
    .description(
      "write the inputs recorded in a running server's log as a trace, reading GET /v1/events page by page",
    )
    .option('--from <position>', 'the first log position (default 1)')
    .option('--to <position>', 'the last log position (default: the head when the command starts)')
    .option('--out <file>', 'write the trace here instead of stdout'),
).action(runTraceExport);

const keysCommand = program
  .command('keys')
  .description('Ed25519 keys that sign inputs (docs/api.md, "Signed inputs")');
keysCommand
  .command('generate')
  .description(
    'write a new Ed25519 private key (PEM, mode 0600) and print its public key as base64url',
  )
  .requiredOption('--out <file>', 'where to write the private key (never overwritten)')
  .action(runKeysGenerate);
serverOptions(
  keysCommand
    .command('add')
    .description('register a key on the running server (operator)')
    .requiredOption('--id <key_id>', 'the key id signatures name (kid)')
    .requiredOption('--owner <instance>', 'the instance id whose inputs the key signs')
    .requiredOption('--public-key <base64url>', 'the public key `ledger keys generate` printed')
    .option('--not-before <iso>', 'start of the validity window (default: now)')
    .option('--not-after <iso>', 'end of the validity window (default: none)'),
).action(runKeysAdd);
serverOptions(
  keysCommand
    .command('revoke')
    .argument('<id>', 'the key id')
    .description('revoke a key on the running server from now on (operator)')
    .requiredOption('--reason <text>', 'why (recorded)'),
).action(runKeysRevoke);
serverOptions(
  keysCommand
    .command('list')
    .description('the registered keys, in key id order (one page; --cursor continues)')
    .option('--limit <n>', 'keys per page, 1 to 1000', '100')
    .option('--cursor <cursor>', 'the page after the one that printed it')
    .option('--json', 'print the API answer as JSON'),
).action(runKeysList);

const tokensCommand = program.command('tokens').description('the API tokens file');
tokensCommand
  .command('add')
  .description(
    'append a new token to LEDGER_TOKENS_FILE (or the development file) and print it once; restart a running server to accept it',
  )
  .addOption(
    new Option('--role <role>', 'what the token may do')
      .choices(['operator', 'factory', 'auditor'])
      .makeOptionMandatory(),
  )
  .option('--instance <id>', 'the factory instance the token is bound to (factory tokens only)')
  .option('--name <name>', 'who holds it (names the principal in the log)')
  .action(runTokensAdd);

try {
  await program.parseAsync(process.argv);
} catch (error) {
  // One line on stderr, whatever failed: say what, not where in the code.
  process.stderr.write(`ledger: ${failureLine(error)}\n`);
  process.exitCode = 1;
}

/** A failure as one line: the ledger's code, or the error's name, then its message. */
function failureLine(error: unknown): string {
  const text = isLedgerError(error)
    ? `${error.code}: ${error.message}`
    : error instanceof Error
      ? `${error.name}: ${error.message}`
      : String(error);
  return text.replace(/\s*[\r\n]+\s*/g, ' ');
}
