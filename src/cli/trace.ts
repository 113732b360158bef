import { once } from 'node:events';
import { createWriteStream } from 'node:fs';
import { z } from 'zod';
import { environments } from '../../schemas/policy-decision.ts';
import { storedEventSchema } from '../../schemas/stored-event.ts';
import { LedgerError } from '../errors.ts';
import { traceLineOfEvent } from '../traces/export.ts';
import { DEFAULT_TRACE_START, generateTrace, traceLineText } from '../traces/generate.ts';
import { openClient, type ClientOptions } from './api-client.ts';
import { progressOnTerminal } from './progress.ts';

/** Where a trace goes: a file (`--out`) or stdout, written with backpressure, line by line. */
interface LineSink {
  write(text: string): Promise<void>;
  close(): Promise<void>;
}

/** Thrown by a sink on stdout once its reader has gone (`ledger trace generate | head`). */
class ReaderGone extends Error {}

function openSink(out: string | undefined): LineSink {
  const stream = out === undefined ? process.stdout : createWriteStream(out, { flags: 'w' });
  let gone = false;
  // A closed pipe ends the output as the reader wished: not a failure of the command.
  if (stream === process.stdout)
    stream.on('error', (error: NodeJS.ErrnoException) => {
      if (error.code !== 'EPIPE') throw error;
      gone = true;
      stream.emit('drain');
    });
  return {
    async write(text) {
      if (gone) throw new ReaderGone();
      if (!stream.write(text)) await once(stream, 'drain');
    },
    async close() {
      if (stream === process.stdout) return;
      stream.end();
      await once(stream, 'finish');
    },
  };
}

function wholeNumber(value: string, option: string, min = 0): number {
  if (!/^\d{1,15}$/.test(value) || Number(value) < min)
    throw new LedgerError(
      'INVALID_ARGUMENT',
      `${option} must be a whole number of at least ${min}, not ${value}.`,
    );
  return Number(value);
}

export interface TraceGenerateOptions {
  seed: string;
  missions: string;
  out?: string;
  signed?: boolean;
  start?: string;
  env?: string;
}

/** `ledger trace generate`: a seeded, deterministic trace (docs/traces.md). */
export async function runTraceGenerate(options: TraceGenerateOptions): Promise<void> {
  const seed = wholeNumber(options.seed, '--seed');
  if (seed > 0xffffffff)
    throw new LedgerError('INVALID_ARGUMENT', '--seed must fit in 32 bits (0 to 4294967295).');
  const missions = wholeNumber(options.missions, '--missions', 1);
  const start = options.start ?? DEFAULT_TRACE_START;
  if (!z.iso.datetime({ offset: true }).safeParse(start).success)
    throw new LedgerError(
      'INVALID_ARGUMENT',
      `--start must be an ISO-8601 date-time, not ${start}.`,
    );
  const environment = z.enum(environments).optional().safeParse(options.env);
  if (!environment.success)
    throw new LedgerError('INVALID_ARGUMENT', `--env must be one of ${environments.join(', ')}.`);
  const sink = openSink(options.out);
  try {
    for (const line of generateTrace({
      seed,
      missions,
      signed: options.signed === true,
      start,
      ...(environment.data === undefined ? {} : { environment: environment.data }),
    }))
      await sink.write(traceLineText(line));
  } catch (error) {
    if (!(error instanceof ReaderGone)) throw error;
  } finally {
    await sink.close();
  }
}

export interface TraceExportOptions extends ClientOptions {
  from?: string;
  to?: string;
  out?: string;
}

const PAGE = 1000;
const pageSchema = z.looseObject({ events: z.array(storedEventSchema) });
const headSchema = z.looseObject({ head_position: z.number().int().nonnegative() });

/**
 * `ledger trace export`: the inputs recorded at log positions `--from` to `--to` (both included;
 * default: the whole log up to its head when the command starts), read page by page from a
 * running server's `GET /v1/events` and written as trace lines as they come.
 */
export async function runTraceExport(options: TraceExportOptions): Promise<void> {
  const from = wholeNumber(options.from ?? '1', '--from', 1);
  const client = await openClient(options);
  const to =
    options.to === undefined
      ? (await client.get('/projections', {}, headSchema)).head_position
      : wholeNumber(options.to, '--to', 1);
  const sink = openSink(options.out);
  const progress = progressOnTerminal();
  const total = Math.max(0, to - from + 1);
  let seq = 0;
  try {
    let after = from - 1;
    while (after < to) {
      const limit = Math.min(PAGE, to - after);
      const { events } = await client.get(
        '/events',
        { after: String(after), limit: String(limit) },
        pageSchema,
      );
      if (events.length === 0) break;
      for (const event of events) {
        const line = traceLineOfEvent(event);
        if (line === undefined) continue;
        seq += 1;
        await sink.write(traceLineText({ seq, ...line }));
      }
      after = events[events.length - 1]?.position ?? to;
      progress.update('export', after - from + 1, total);
    }
  } finally {
    progress.stop();
    await sink.close();
  }
}
