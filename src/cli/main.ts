import { Command } from 'commander';
import { isLedgerError } from '../errors.ts';
import { runMigrate } from './migrate.ts';
import { runProjectionStatus, runRebuild } from './projections.ts';
import { runReplay } from './replay.ts';
import { runServe } from './serve.ts';

const program = new Command()
  .name('ledger')
  .description('mission-ledger: an event-sourced, verifiable ledger for AI-mission control planes')
  .showHelpAfterError();

program
  .command('serve')
  .description('start the HTTP API (configured by PORT, HOST, LEDGER_STORE, LEDGER_ENV, ...)')
  .action(runServe);

program
  .command('migrate')
  .description('create or upgrade the store named by LEDGER_STORE, then print its head position')
  .action(runMigrate);

program
  .command('replay')
  .description(
    'rebuild every projection from position 0 into a scratch schema; with --verify, compare it with the live read models row by row and exit 1 on any difference',
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
