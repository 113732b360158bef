import { Command } from 'commander';
import { isLedgerError } from '../errors.ts';
import { runMigrate } from './migrate.ts';
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

try {
  await program.parseAsync(process.argv);
} catch (error) {
  // Configuration and store errors are the user's to fix: say what, not where in the code.
  if (isLedgerError(error)) {
    process.stderr.write(`ledger: ${error.code}: ${error.message}\n`);
  } else {
    process.stderr.write(
      `ledger: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`,
    );
  }
  process.exitCode = 1;
}
