import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { runTraceGenerate } from '../../src/cli/trace.ts';
import { DEFAULT_TRACE_START, generateTrace, traceLineText } from '../../src/traces/generate.ts';

const fixture = (name: string) =>
  readFileSync(new URL(`../../fixtures/traces/${name}`, import.meta.url), 'utf8');

/** The command each committed trace was made with, as fixtures/traces/README.md states it. */
const generated = [
  { file: 'seed-1-missions-6.jsonl', seed: 1, missions: 6, signed: false },
  { file: 'seed-4-missions-6-signed.jsonl', seed: 4, missions: 6, signed: true },
  { file: 'seed-8-missions-6-signed.jsonl', seed: 8, missions: 6, signed: true },
];

describe('fixtures/traces', () => {
  it.each(generated)('$file is what its command generates, byte for byte', (trace) => {
    const text = [...generateTrace({ ...trace, start: DEFAULT_TRACE_START })]
      .map(traceLineText)
      .join('');
    expect(text).toBe(fixture(trace.file));
  });

  it('README.md names each generated trace with the command that made it', () => {
    const readme = fixture('README.md');
    for (const { file, seed, missions, signed } of generated)
      expect(readme).toContain(
        `ledger trace generate --seed ${seed} --missions ${missions}${signed ? ' --signed' : ''} --out fixtures/traces/${file}`,
      );
  });

  it('`ledger trace generate --out` writes the same bytes as the fixture', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'trace-generate-'));
    try {
      const out = join(dir, 'trace.jsonl');
      await runTraceGenerate({ seed: '4', missions: '6', signed: true, out });
      expect(readFileSync(out, 'utf8')).toBe(fixture('seed-4-missions-6-signed.jsonl'));
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('`ledger trace generate` refuses arguments it cannot honour', async () => {
    const refused = (options: Parameters<typeof runTraceGenerate>[0]) =>
      expect(runTraceGenerate(options)).rejects.toMatchObject({ code: 'INVALID_ARGUMENT' });
    await refused({ seed: '-1', missions: '5' });
    await refused({ seed: '4294967296', missions: '5' });
    await refused({ seed: '1', missions: '0' });
    await refused({ seed: '1', missions: '5', start: 'yesterday' });
    await refused({ seed: '1', missions: '5', env: 'prod' });
  });
});
