/** One event of a `text/event-stream`: its `id:`, `event:` and joined `data:` lines. */
export interface ServerSentEvent {
  id: string | undefined;
  event: string | undefined;
  data: string;
}

/**
 * Parses a `text/event-stream` body (the WHATWG format: lines end in LF, CR or CRLF; a blank line
 * ends an event; `:` starts a comment) into its events, in order. Comments (keep-alives) and
 * `retry:` are dropped; a block without `data:` is no event. Ends when the body ends or `signal`
 * aborts; the reader is released either way.
 */
export async function* readServerSentEvents(
  body: ReadableStream<Uint8Array>,
  signal: AbortSignal,
): AsyncGenerator<ServerSentEvent> {
  const reader = body.pipeThrough(new TextDecoderStream()).getReader();
  const cancel = () => void reader.cancel().catch(() => undefined);
  signal.addEventListener('abort', cancel, { once: true });
  const lines = new LineSplitter();
  let current: { id?: string; event?: string; data: string[] } = { data: [] };
  try {
    for (;;) {
      const chunk = await reader.read().catch((error: unknown) => {
        if (signal.aborted) return { done: true as const, value: undefined };
        throw error;
      });
      if (chunk.done) return;
      for (const line of lines.push(chunk.value)) {
        if (line === '') {
          if (current.data.length > 0) {
            yield { id: current.id, event: current.event, data: current.data.join('\n') };
          }
          current = { data: [] };
          continue;
        }
        if (line.startsWith(':')) continue;
        const colon = line.indexOf(':');
        const field = colon === -1 ? line : line.slice(0, colon);
        let value = colon === -1 ? '' : line.slice(colon + 1);
        if (value.startsWith(' ')) value = value.slice(1);
        if (field === 'data') current.data.push(value);
        else if (field === 'id') current.id = value;
        else if (field === 'event') current.event = value;
      }
    }
  } finally {
    signal.removeEventListener('abort', cancel);
    cancel();
  }
}

/** Splits text arriving in chunks into lines; a CR at a chunk's end waits for a possible LF. */
export class LineSplitter {
  private rest = '';

  /** The lines completed by `text`, without their terminators. */
  push(text: string): string[] {
    const buffer = this.rest + text;
    const lines: string[] = [];
    let start = 0;
    for (let i = 0; i < buffer.length; i += 1) {
      const c = buffer[i];
      if (c === '\n') {
        lines.push(buffer.slice(start, i));
        start = i + 1;
      } else if (c === '\r') {
        if (i + 1 === buffer.length) break;
        lines.push(buffer.slice(start, i));
        start = buffer[i + 1] === '\n' ? i + 2 : i + 1;
        if (buffer[i + 1] === '\n') i += 1;
      }
    }
    this.rest = buffer.slice(start);
    return lines;
  }
}
