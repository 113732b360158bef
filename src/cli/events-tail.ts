import { z } from 'zod';
import { storedEventSchema } from '../../schemas/stored-event.ts';
import { LedgerError } from '../errors.ts';
import { openClient, type ClientOptions } from './api-client.ts';
import { eventLine } from './event-lines.ts';

export interface EventsTailOptions extends ClientOptions {
  lines?: string;
  after?: string;
  follow?: boolean;
  json?: boolean;
}

const headSchema = z.looseObject({ head_position: z.number().int().nonnegative() });

/**
 * `ledger events tail`: the last events of the global log (or those after `--after`), read from
 * the server's event stream; with `--follow` it stays on the stream and prints each new event as
 * it commits, until Ctrl-C. One path for both: the stream is ordered and gapless, and without
 * `--follow` it is left at the log head read when the command started.
 */
export async function runEventsTail(options: EventsTailOptions): Promise<void> {
  const count = wholeNumber(options.lines ?? '20', '--lines');
  const client = await openClient(options);
  const head = (await client.get('/projections', {}, headSchema)).head_position;
  let after =
    options.after === undefined ? Math.max(0, head - count) : wholeNumber(options.after, '--after');
  const follow = options.follow === true;
  if (!follow && after >= head) return;

  const stop = new AbortController();
  const interrupt = () => stop.abort();
  process.once('SIGINT', interrupt);
  process.once('SIGTERM', interrupt);
  try {
    for await (const message of client.stream(
      '/events/stream',
      { after: String(after) },
      stop.signal,
    )) {
      const event = storedEventSchema.parse(JSON.parse(message.data));
      process.stdout.write(
        options.json === true ? `${JSON.stringify(event)}\n` : `${eventLine(event)}\n`,
      );
      after = event.position;
      if (!follow && after >= head) return;
    }
    if (!stop.signal.aborted) {
      throw new LedgerError(
        'STORE_UNAVAILABLE',
        `The server ended the event stream (shutting down?); resume with --after ${after}.`,
        { after },
      );
    }
  } catch (error) {
    // Ctrl-C while following is the way to stop: it ends the command, not as a failure.
    if (!stop.signal.aborted) throw error;
  } finally {
    process.off('SIGINT', interrupt);
    process.off('SIGTERM', interrupt);
    stop.abort();
  }
}

function wholeNumber(value: string, option: string): number {
  if (!/^\d{1,15}$/.test(value)) {
    throw new LedgerError('INVALID_ARGUMENT', `${option} must be a whole number, not ${value}.`);
  }
  return Number(value);
}
