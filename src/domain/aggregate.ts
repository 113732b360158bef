import type { CommandMetadata, Decider, Reason, RecordedEvent } from './decider.ts';

/** A stored event as the command path folds it: what it recorded, and under which metadata. */
export interface FoldedEvent extends RecordedEvent {
  metadata?: { idempotency_key?: string; actor?: string };
}

/** A refusal of who sent a command: recorded with `recorded`, answered with `answered`. */
export interface Refusal {
  /** The true reason, for auditors (e.g. FORBIDDEN_INSTANCE). */
  recorded: Reason;
  /** What the sender is told: nothing it may not know (e.g. MISSION_NOT_FOUND). */
  answered: Reason;
}

/**
 * An aggregate as the one command handler (`src/ledger/command-handler.ts`) runs it: its decider,
 * and what the handler must know of it to route, admit and deduplicate commands. Pure, like the
 * decider: every function answers from its arguments.
 */
export interface Aggregate<
  Command extends { metadata: CommandMetadata },
  State,
  Event extends RecordedEvent,
> {
  decider: Decider<Command, State, Event>;
  /**
   * The stream the command belongs to, or undefined when it names none that may exist (it is then
   * decided on the initial state and recorded in the rejections stream).
   */
  streamOf(command: Command): string | undefined;
  /**
   * Whether the sender may act on the stream's instance, before anything else (and before its
   * idempotency key is looked up): undefined to admit. A refusal is recorded in the rejections
   * stream, under no key, and never grows the instance's stream.
   */
  admit(command: Command, state: State): Refusal | undefined;
  /**
   * The command's idempotency key and its key space (the kind of input), or undefined when it
   * carries no key that may bind (absent, or refused by the contract: the decider says why).
   */
  keyOf(command: Command): { space: string; key: string } | undefined;
  /**
   * The scoped key a stored event was recorded under (see `scopedKey`), including events recorded
   * before keys were scoped; undefined when it has none.
   */
  storedKeyOf(event: FoldedEvent): string | undefined;
  /** The input a stored event was decided on, as recorded; undefined for events of no input. */
  recordedInput(event: RecordedEvent): unknown;
  /** The command's input as it would be recorded: a retry is the same input when these match. */
  inputOf(command: Command): unknown;
  /** The event recording a command in the rejections stream, with every reason. */
  unattributed(command: Command, reasons: Reason[]): RecordedEvent;
  /** The event recording a command whose key the stream holds for another input. */
  keyReused(command: Command, reason: Reason): RecordedEvent;
  /**
   * What the answer to a command says besides where it was recorded: the instance's id, and what
   * an accepted event allocated (a session id). For accepted commands and their replays.
   */
  answerOf(stream: string, event: RecordedEvent | undefined): Record<string, unknown>;
  /** The trace id to carry in the metadata of the command's events, when it has a usable one. */
  traceOf(command: Command): string | undefined;
}
