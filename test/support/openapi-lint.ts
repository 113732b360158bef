import { execFile } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';

const run = promisify(execFile);

/** One problem `redocly lint` reports. */
export interface LintProblem {
  severity: 'error' | 'warn';
  ruleId: string;
  message: string;
  /** The JSON pointer of the first location, e.g. `#/paths/~1v1~1healthz/get/responses`. */
  pointer: string;
}

interface RedoclyReport {
  problems: {
    severity: 'error' | 'warn';
    ruleId: string;
    message: string;
    location?: { pointer?: string }[];
  }[];
}

/**
 * Lints `document` with `redocly lint` (the `recommended` ruleset) and returns every problem.
 * The CLI exits non-zero on errors, so its JSON report is read whatever the exit code.
 */
export async function redoclyLint(document: unknown): Promise<LintProblem[]> {
  const dir = await mkdtemp(join(tmpdir(), 'openapi-lint-'));
  try {
    const file = join(dir, 'openapi.json');
    await writeFile(file, JSON.stringify(document));
    const bin = join(process.cwd(), 'node_modules', '.bin', 'redocly');
    const args = ['lint', file, '--format=json', '--extends=recommended'];
    // No telemetry and no update check: the test runs offline.
    const env = {
      ...process.env,
      REDOCLY_TELEMETRY: 'off',
      REDOCLY_SUPPRESS_UPDATE_NOTICE: 'true',
    };
    const stdout = await run(bin, args, { cwd: dir, env, maxBuffer: 64 * 1024 * 1024 }).then(
      (r) => r.stdout,
      (error: { stdout?: string }) => {
        if (typeof error.stdout === 'string' && error.stdout.trim().startsWith('{')) {
          return error.stdout;
        }
        throw error;
      },
    );
    const report = JSON.parse(stdout) as RedoclyReport;
    return report.problems.map((p) => ({
      severity: p.severity,
      ruleId: p.ruleId,
      message: p.message,
      pointer: p.location?.[0]?.pointer ?? '',
    }));
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}
