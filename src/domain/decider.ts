import type { Principal } from '../../schemas/index.ts';
import type { ErrorCode } from '../errors.ts';

/** What every command carries besides its data: when, from whom, under which key. */
export interface CommandMetadata {
  /** The ledger's receive time, ISO-8601: the decision's only notion of "now". */
  received_at: string;
  /** Who sent the command, as authenticated. */
  principal: Principal;
  /** The idempotency key as the client sent it; undefined when it sent none. */
  idempotency_key: string | undefined;
}

/** An event as read back from a stream: its type and data, nothing assumed about either. */
export interface RecordedEvent {
  type: string;
  data: unknown;
}

/** One place where an input breaks its contract: a path into it and what is wrong there. */
export interface ContractIssue {
  path: string;
  message: string;
}

/**
 * Why an input was rejected: a stable code of the one error namespace and a message for humans.
 * A `SCHEMA_INVALID` reason also lists its `issues` for clients; they are part of the answer
 * only, never of the stored event, whose reasons are `{code, message}` (`rejectionReasonSchema`).
 */
export interface Reason {
  code: ErrorCode;
  message: string;
  issues?: readonly ContractIssue[];
}

/**
 * What a decider concluded about one command. A rejection is an outcome too: its events record
 * the input as received and every reason, so the log explains itself.
 */
export type Decision<Event extends RecordedEvent> =
  | { outcome: 'accepted'; events: Event[] }
  | { outcome: 'rejected'; events: Event[]; reasons: Reason[] };

/**
 * The whole domain contract of an aggregate (one stream per instance): the state before its first
 * event, how an event moves the state, and what a command decides given the state. Pure: time,
 * ids and the sender come in on the command, never from inside.
 *
 * @example
 * let state = decider.initialState();
 * for (const event of stream) state = decider.evolve(state, event);
 * const decision = decider.decide(command, state);
 */
export interface Decider<Command, State, Event extends RecordedEvent> {
  initialState(): State;
  evolve(state: State, event: RecordedEvent): State;
  decide(command: Command, state: State): Decision<Event>;
}
