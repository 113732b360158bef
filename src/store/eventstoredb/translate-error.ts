import {
  ErrorType,
  type AppendExpectedRevision,
  type CurrentRevision,
} from '@eventstore/db-client';
import { LedgerError } from '../../errors.ts';
import { revisionConflict } from '../append-plan.ts';
import type { ExpectedRevision } from '../port.ts';
import { fromCurrentRevision, fromEsdbExpectedRevision } from './map-event.ts';

/*
 * No @eventstore/db-client error leaves src/store: every failure becomes a LedgerError with a
 * stable code. The client's errors are recognised by their `type` field (the `ErrorType` enum
 * every CommandError carries) rather than by `instanceof`, so that an error built by another copy
 * of the package, or a plain object shaped like one, is still translated.
 */

/** What the adapter was doing, for the error's details. */
export interface EsdbErrorContext {
  operation: string;
  stream?: string;
  /** The caller's expectation: reported instead of the adapter's own pinned revision. */
  expectedRevision?: ExpectedRevision;
}

/** Client error types that mean "the server could not be reached or did not answer in time". */
const UNAVAILABLE_TYPES: ReadonlySet<string> = new Set([
  ErrorType.UNAVAILABLE,
  ErrorType.DEADLINE_EXCEEDED,
  ErrorType.CANCELLED,
  ErrorType.TIMEOUT,
  // The node lost leadership mid-call (an election); the client reconnects to the new leader.
  ErrorType.NOT_LEADER,
]);

/** Node socket errors seen before the gRPC layer wraps them. */
const CONNECTION_CODES: ReadonlySet<string> = new Set([
  'ECONNREFUSED',
  'ECONNRESET',
  'ENOTFOUND',
  'EAI_AGAIN',
  'ETIMEDOUT',
  'EPIPE',
  'EHOSTUNREACH',
]);

/** gRPC status codes CANCELLED (1), DEADLINE_EXCEEDED (4) and UNAVAILABLE (14). */
const TRANSIENT_GRPC_STATUS: ReadonlySet<number> = new Set([1, 4, 14]);

/**
 * Translates anything the ESDB client throws into a {@link LedgerError}:
 * - `WrongExpectedVersionError` -> `EXPECTED_REVISION_CONFLICT` with `expected` and `actual`;
 * - `MaxAppendSizeExceededError` -> `EVENT_TOO_LARGE` (the server's per-append limit);
 * - the client's own argument validation -> `INVALID_ARGUMENT`;
 * - unavailable, deadline exceeded, cancelled, not leader and socket failures ->
 *   `STORE_UNAVAILABLE` with `retryable: true`;
 * - anything else -> `STORE_UNAVAILABLE` with the original as `cause` and its message in details.
 * A LedgerError passes through unchanged.
 *
 * @example
 * try { await client.appendToStream(stream, events); }
 * catch (error) { throw translateEsdbError(error, { operation: 'append', stream }); }
 */
export function translateEsdbError(error: unknown, context: EsdbErrorContext): LedgerError {
  if (error instanceof LedgerError) return error;
  const type = errorTypeOf(error);
  switch (type) {
    case ErrorType.WRONG_EXPECTED_VERSION:
      return wrongExpectedVersion(error, context);
    case ErrorType.MAXIMUM_APPEND_SIZE_EXCEEDED:
      return new LedgerError(
        'EVENT_TOO_LARGE',
        `The append exceeds EventStoreDB's maximum append size.`,
        { ...contextDetails(context), limit: numberField(error, 'maxAppendSize') },
        { cause: error },
      );
    case ErrorType.INVALID_ARGUMENT:
      return new LedgerError(
        'INVALID_ARGUMENT',
        `EventStoreDB rejected the request: ${messageOf(error)}`,
        { ...contextDetails(context), message: messageOf(error) },
        { cause: error },
      );
  }
  if ((type !== undefined && UNAVAILABLE_TYPES.has(type)) || isConnectionFailure(error)) {
    return unavailable(error, context, type ?? 'connection', true);
  }
  return unavailable(error, context, type ?? 'unexpected', false);
}

/** True when `error` is the client's stream-not-found error (or shaped like it). */
export function isStreamNotFound(error: unknown): boolean {
  return errorTypeOf(error) === ErrorType.STREAM_NOT_FOUND;
}

/** True when `error` is the client's wrong-expected-version error (or shaped like it). */
export function isWrongExpectedVersion(error: unknown): boolean {
  return errorTypeOf(error) === ErrorType.WRONG_EXPECTED_VERSION;
}

/**
 * The stream's actual revision reported by a wrong-expected-version error, in the port's terms
 * (`NO_STREAM` when absent), or `undefined` when the error carries none.
 */
export function actualRevisionOf(error: unknown): number | undefined {
  const actual = field(error, 'actualVersion');
  return isCurrentRevision(actual) ? fromCurrentRevision(actual) : undefined;
}

function wrongExpectedVersion(error: unknown, context: EsdbErrorContext): LedgerError {
  const streamField = field(error, 'streamName');
  const stream =
    context.stream ?? (typeof streamField === 'string' && streamField !== '' ? streamField : '?');
  const esdbExpected = field(error, 'expectedVersion');
  const expected =
    context.expectedRevision ??
    (isAppendExpectedRevision(esdbExpected) ? fromEsdbExpectedRevision(esdbExpected) : 'any');
  const actual = actualRevisionOf(error);
  if (actual !== undefined) return revisionConflict(stream, expected, actual);
  return new LedgerError('EXPECTED_REVISION_CONFLICT', undefined, {
    stream,
    expected,
    actual: 'unknown',
  });
}

function unavailable(
  error: unknown,
  context: EsdbErrorContext,
  reason: string,
  retryable: boolean,
): LedgerError {
  const message = messageOf(error);
  return new LedgerError(
    'STORE_UNAVAILABLE',
    `EventStoreDB ${context.operation} failed (${reason})${message === '' ? '' : `: ${message}`}`,
    { ...contextDetails(context), reason, retryable, message },
    { cause: error },
  );
}

function contextDetails(context: EsdbErrorContext): Record<string, unknown> {
  return context.stream === undefined
    ? { operation: context.operation }
    : { operation: context.operation, stream: context.stream };
}

function errorTypeOf(error: unknown): string | undefined {
  const type = field(error, 'type');
  return typeof type === 'string' ? type : undefined;
}

function isConnectionFailure(error: unknown): boolean {
  const code = field(error, 'code');
  if (typeof code === 'string') return CONNECTION_CODES.has(code);
  if (typeof code === 'number') return TRANSIENT_GRPC_STATUS.has(code);
  // Cluster discovery (esdb+discover://) gives up with a plain Error.
  return messageOf(error).startsWith('Failed to discover');
}

function isCurrentRevision(value: unknown): value is CurrentRevision {
  return value === 'no_stream' || typeof value === 'bigint';
}

function isAppendExpectedRevision(value: unknown): value is AppendExpectedRevision {
  return (
    value === 'any' ||
    value === 'no_stream' ||
    value === 'stream_exists' ||
    typeof value === 'bigint'
  );
}

function numberField(error: unknown, name: string): number | undefined {
  const value = field(error, name);
  return typeof value === 'number' ? value : undefined;
}

function messageOf(error: unknown): string {
  const message = field(error, 'message');
  if (typeof message === 'string') return message;
  return typeof error === 'string' ? error : '';
}

function field(value: unknown, name: string): unknown {
  return typeof value === 'object' && value !== null
    ? (value as Record<string, unknown>)[name]
    : undefined;
}
