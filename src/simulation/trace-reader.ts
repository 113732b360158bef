import { createInterface } from 'node:readline';
import type { Readable } from 'node:stream';
import { traceLineSchema, type TraceLine } from '../../schemas/trace.ts';

/** A trace line that cannot be simulated: not JSON, not a trace line, or out of sequence. */
export class TraceLineError extends Error {
  override readonly name = 'TraceLineError';

  constructor(
    /** 1-based line number in the trace file. */
    readonly line: number,
    detail: string,
  ) {
    super(`trace line ${line}: ${detail}`);
  }
}

/**
 * The lines of a JSONL trace, one at a time, each parsed and validated with `traceLineSchema`,
 * with `seq` checked to run 1, 2, 3, ... Blank lines are skipped (a trailing newline is usual).
 * Reads the stream as it goes: memory does not grow with the trace.
 */
export async function* readTrace(input: Readable): AsyncGenerator<TraceLine> {
  const lines = createInterface({ input, crlfDelay: Infinity });
  let number = 0;
  let expectedSeq = 1;
  try {
    for await (const text of lines) {
      number += 1;
      if (text.trim() === '') continue;
      let json: unknown;
      try {
        json = JSON.parse(text);
      } catch (error) {
        throw new TraceLineError(number, `not JSON (${(error as Error).message})`);
      }
      const parsed = traceLineSchema.safeParse(json);
      if (!parsed.success) {
        const issues = parsed.error.issues
          .map((issue) => `${issue.path.join('.') || '(line)'}: ${issue.message}`)
          .join('; ');
        throw new TraceLineError(number, `not a trace line (${issues})`);
      }
      if (parsed.data.seq !== expectedSeq) {
        throw new TraceLineError(number, `seq is ${parsed.data.seq}, expected ${expectedSeq}`);
      }
      expectedSeq += 1;
      yield parsed.data;
    }
  } finally {
    // A failed line ends the read: release the file rather than wait for the collector.
    lines.close();
    input.destroy();
  }
}
