import { TEST_PG_URL, testPostgresProblem } from './postgres.ts';

/**
 * Vitest's global setup: checks once, before any test file runs, that the tests' PostgreSQL
 * answers. When it does not, the run fails here with one line saying which problem it is (not
 * running, no such role or database, a wrong password, a malformed LEDGER_TEST_PG_URL) and what
 * to do, instead of every PostgreSQL test failing on its own.
 */
export default async function checkTestPostgres(): Promise<void> {
  const problem = await testPostgresProblem(TEST_PG_URL);
  if (problem !== undefined) {
    const error = new Error(problem);
    // The line is the whole report: where in this file it was thrown helps nobody.
    error.stack = `Error: ${problem}`;
    throw error;
  }
}
