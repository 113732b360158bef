import { resolve } from 'node:path';
import type { z } from 'zod';
import { loadConfig } from '../config.ts';
import { LedgerError, errorCodes, type ErrorCode } from '../errors.ts';
import { readServerSentEvents, type ServerSentEvent } from './server-sent-events.ts';
import { DEV_TOKENS_FILE, readTokensFile } from './tokens.ts';

/** What the read commands are told on their command line. */
export interface ClientOptions {
  url?: string;
  token?: string;
}

/**
 * The read commands talk to a running `ledger serve` over its HTTP API, whatever the store: the
 * embedded store's directory is locked by the server, and PostgreSQL is served the same way, so
 * one path covers every layout and the commands see exactly what API clients see.
 */
export class LedgerClient {
  constructor(
    readonly url: string,
    private readonly token: string,
  ) {}

  /** GET `path` (under /v1) and parse the answer with `schema`; an error answer throws it. */
  async get<T>(path: string, query: Record<string, string | undefined>, schema: z.ZodType<T>) {
    const response = await this.request(path, query);
    const body: unknown = await response.json().catch(() => undefined);
    if (!response.ok) throw answerError(response.status, body);
    const parsed = schema.safeParse(body);
    if (!parsed.success) {
      throw new Error(
        `The server at ${this.url} answered GET ${path} with an unexpected body (another version of the ledger?).`,
      );
    }
    return parsed.data;
  }

  /**
   * POST `body` as JSON to `path` (under /v1) and parse the answer with `schema`; an error answer
   * throws it.
   */
  async post<T>(path: string, body: unknown, schema: z.ZodType<T>): Promise<T> {
    const response = await this.request(path, {}, undefined, body);
    const answer: unknown = await response.json().catch(() => undefined);
    if (!response.ok) throw answerError(response.status, answer);
    const parsed = schema.safeParse(answer);
    if (!parsed.success) {
      throw new Error(
        `The server at ${this.url} answered POST ${path} with an unexpected body (another version of the ledger?).`,
      );
    }
    return parsed.data;
  }

  /** The Server-Sent Events of `path`, until the server ends the stream or `signal` aborts. */
  async *stream(
    path: string,
    query: Record<string, string | undefined>,
    signal: AbortSignal,
  ): AsyncGenerator<ServerSentEvent> {
    const response = await this.request(path, query, signal);
    if (!response.ok || response.body === null) {
      throw answerError(response.status, await response.json().catch(() => undefined));
    }
    yield* readServerSentEvents(response.body, signal);
  }

  private async request(
    path: string,
    query: Record<string, string | undefined>,
    signal?: AbortSignal,
    body?: unknown,
  ): Promise<Response> {
    const target = new URL(`${this.url}/v1${path}`);
    for (const [name, value] of Object.entries(query)) {
      if (value !== undefined) target.searchParams.set(name, value);
    }
    try {
      return await fetch(target, {
        headers: {
          authorization: `Bearer ${this.token}`,
          ...(body === undefined ? {} : { 'content-type': 'application/json' }),
        },
        ...(body === undefined ? {} : { method: 'POST', body: JSON.stringify(body) }),
        ...(signal === undefined ? {} : { signal }),
      });
    } catch (error) {
      if (signal?.aborted === true) throw error;
      throw new LedgerError(
        'CONFIGURATION_INVALID',
        `No ledger server answers at ${this.url}: start \`ledger serve\`, or pass --url (default http://127.0.0.1:$PORT).`,
        { url: this.url },
        { cause: error },
      );
    }
  }
}

/** An error answer as the ledger's own error, so the CLI prints `CODE: message` like the API. */
function answerError(status: number, body: unknown): Error {
  const error = (body as { error?: { code?: unknown; message?: unknown } } | undefined)?.error;
  const code = typeof error?.code === 'string' ? error.code : undefined;
  const message = typeof error?.message === 'string' ? error.message : `HTTP ${status}`;
  if (code !== undefined && Object.hasOwn(errorCodes, code)) {
    return new LedgerError(code as ErrorCode, message, { status });
  }
  return new Error(`HTTP ${status}${code === undefined ? '' : ` ${code}`}: ${message}`);
}

/**
 * The client for `options`: `--url`, else `http://127.0.0.1:$PORT` (the configured HOST when it
 * names one interface); `--token`, else LEDGER_TOKEN, else the first operator (or auditor) token
 * of the tokens file `ledger serve` reads (LEDGER_TOKENS_FILE or the development file).
 */
export async function openClient(options: ClientOptions): Promise<LedgerClient> {
  const config = loadConfig();
  let url = options.url;
  if (url === undefined) {
    if (config.PORT === 0) {
      throw new LedgerError(
        'CONFIGURATION_INVALID',
        'PORT=0 names no port to reach the server on: pass --url.',
      );
    }
    const host = ['0.0.0.0', '::'].includes(config.HOST) ? '127.0.0.1' : config.HOST;
    url = `http://${host.includes(':') ? `[${host}]` : host}:${config.PORT}`;
  }
  if (!/^https?:\/\/[^/]+/.test(url)) {
    throw new LedgerError('CONFIGURATION_INVALID', `--url ${url} is not an http(s) URL.`);
  }
  const token = options.token ?? process.env.LEDGER_TOKEN ?? (await fileToken(config));
  return new LedgerClient(url.replace(/\/+$/, ''), token);
}

async function fileToken(config: { LEDGER_TOKENS_FILE?: string | undefined }): Promise<string> {
  const path = resolve(config.LEDGER_TOKENS_FILE ?? DEV_TOKENS_FILE);
  let entries;
  try {
    entries = await readTokensFile(path);
  } catch (error) {
    throw new LedgerError(
      'CONFIGURATION_INVALID',
      `No token: pass --token or set LEDGER_TOKEN (the tokens file ${path} gave none: ${
        error instanceof Error ? error.message : String(error)
      })`,
      { path },
    );
  }
  const reader =
    entries.find((e) => e.role === 'operator') ?? entries.find((e) => e.role === 'auditor');
  if (reader === undefined) {
    throw new LedgerError(
      'CONFIGURATION_INVALID',
      `The tokens file ${path} has no operator or auditor token: pass --token or set LEDGER_TOKEN.`,
      { path },
    );
  }
  return reader.token;
}
