import { PassThrough } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { eventLine, oneLine, showEvent } from '../../src/cli/event-lines.ts';
import { progressOnTerminal, type ProgressStream } from '../../src/cli/progress.ts';
import { LineSplitter, readServerSentEvents } from '../../src/cli/server-sent-events.ts';
import type { StoredEvent } from '../../src/store/port.ts';

function streamOf(chunks: string[]): ReadableStream<Uint8Array> {
  const encoder = new TextEncoder();
  return new ReadableStream({
    start(controller) {
      for (const chunk of chunks) controller.enqueue(encoder.encode(chunk));
      controller.close();
    },
  });
}

describe('server-sent events', () => {
  it('splits lines at LF, CRLF and CR, a CRLF split across chunks counted once', () => {
    const lines = new LineSplitter();
    expect(lines.push('a\nb\r')).toEqual(['a']);
    expect(lines.push('\nc\rd')).toEqual(['b', 'c']);
    expect(lines.push('\r\n')).toEqual(['d']);
  });

  it('yields events with id, event and joined data; drops comments, retry and data-less blocks', async () => {
    const body = streamOf([
      'retry: 1000\n\n: keep-alive\n\nid: 1\nevent: mission.dispatched\nda',
      'ta: {"a":1}\n\nid: 2\ndata: one\ndata:two\r\n\r\nid: 3\n\n',
    ]);
    const events = [];
    for await (const e of readServerSentEvents(body, new AbortController().signal)) events.push(e);
    expect(events).toEqual([
      { id: '1', event: 'mission.dispatched', data: '{"a":1}' },
      { id: '2', event: undefined, data: 'one\ntwo' },
    ]);
  });

  it('ends when its signal aborts, even while waiting for data', async () => {
    const stop = new AbortController();
    const body = new ReadableStream<Uint8Array>({ pull: () => new Promise(() => undefined) });
    const reading = (async () => {
      const seen = [];
      for await (const e of readServerSentEvents(body, stop.signal)) seen.push(e);
      return seen;
    })();
    stop.abort();
    expect(await reading).toEqual([]);
  });
});

const event = (type: string, data: Record<string, unknown>, actor?: string): StoredEvent => ({
  id: '00000000-0000-4000-8000-000000000000',
  stream: 'mission-msn_1',
  revision: 2,
  position: 17,
  type,
  data,
  metadata: { recorded_at: '2026-01-01T00:00:00.000Z', ...(actor === undefined ? {} : { actor }) },
});

describe('event lines', () => {
  it('shows a rejection with who, outcome and every reason', () => {
    const rejected = event('mission.callback_rejected', {
      input: {},
      reasons: [
        { code: 'TRANSITION_ILLEGAL', message: 'Not from running.' },
        { code: 'USAGE_DECREASED', message: 'Lower.' },
      ],
      received_at: '2026-01-01T00:00:00.000Z',
      principal: { role: 'factory', id: 'ua-7' },
    });
    expect(showEvent(rejected)).toEqual({
      who: 'factory:ua-7',
      outcome: 'rejected',
      detail: '',
      reasons: [
        { code: 'TRANSITION_ILLEGAL', message: 'Not from running.' },
        { code: 'USAGE_DECREASED', message: 'Lower.' },
      ],
    });
    expect(eventLine(rejected)).toBe(
      [
        '    17  2026-01-01T00:00:00.000Z  mission-msn_1  mission.callback_rejected  factory:ua-7  REJECTED',
        '        - TRANSITION_ILLEGAL: Not from running.',
        '        - USAGE_DECREASED: Lower.',
      ].join('\n'),
    );
  });

  it('prefers the recorded actor and shows a callback by its summary', () => {
    const accepted = event(
      'mission.progress',
      { callback: { summary: 'Half done.' }, principal: { role: 'factory', id: 'x' } },
      'factory:ua-7',
    );
    expect(showEvent(accepted)).toMatchObject({
      who: 'factory:ua-7',
      outcome: 'accepted',
      detail: 'Half done.',
    });
  });

  it('never passes control characters (terminal escapes) through, and shortens long text', () => {
    expect(oneLine('a\u001b[31mred\nb\u0000c', 100)).toBe('a [31mred b c');
    expect(oneLine('x'.repeat(10), 5)).toBe('xxxx…');
  });
});

describe('progress on a terminal', () => {
  const fakeStream = (isTTY: boolean) => {
    const stream = new PassThrough() as PassThrough & ProgressStream;
    stream.isTTY = isTTY;
    stream.columns = 100;
    let written = '';
    stream.on('data', (chunk: Buffer) => (written += chunk.toString()));
    return { stream, written: () => written };
  };

  it('draws a bar per name and its final value when stderr is a terminal', () => {
    const { stream, written } = fakeStream(true);
    const progress = progressOnTerminal({ stream, intervalMs: 10_000, labelWidth: 14 });
    progress.update('mission_state', 10, 200);
    progress.update('mission_state', 150, 200); // within the interval: not taken
    progress.update('mission_state', 200, 200); // the last value always is
    progress.stop();
    progress.stop();
    expect(written()).toContain('mission_state ');
    expect(written()).toContain('200/200 events');
    expect(written()).not.toContain('150/200');
  });

  it('writes nothing when stderr is not a terminal', () => {
    const { stream, written } = fakeStream(false);
    const progress = progressOnTerminal({ stream });
    progress.update('budgets', 1, 2);
    progress.stop();
    expect(written()).toBe('');
  });
});
