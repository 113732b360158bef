import { idempotencyKey, KEYS_STREAM } from '../../../schemas/index.ts';
import type { Aggregate } from '../aggregate.ts';
import type { Decider, RecordedEvent } from '../decider.ts';
import {
  decideRegistration,
  decideRevocation,
  registrationInput,
  revocationInput,
  type KeyCommand,
} from './decide.ts';
import type { KeyEvent } from './events.ts';
import { storedReasons } from '../mission/reasons.ts';
import { evolveKeyRegistry, initialKeyRegistryState, type KeyRegistryState } from './state.ts';

/** The key registry's decider: the `ledger-keys` stream folded, each command decided on it. */
export const keyRegistryDecider: Decider<KeyCommand, KeyRegistryState, KeyEvent> = {
  initialState: initialKeyRegistryState,
  evolve: evolveKeyRegistry,
  decide: (command, state) =>
    command.type === 'registerKey'
      ? decideRegistration(state, command)
      : decideRevocation(state, command),
};

const SPACE: Record<KeyCommand['type'], string> = {
  registerKey: 'key_registration',
  revokeKey: 'key_revocation',
};

const field = (data: unknown, name: string): unknown =>
  typeof data === 'object' && data !== null ? (data as Record<string, unknown>)[name] : undefined;

const inputOf = (command: KeyCommand): unknown =>
  command.type === 'registerKey'
    ? registrationInput(command.data.body)
    : revocationInput(command.data.key_id, command.data.body);

/** The event recording a refused command, with every reason. */
function rejection(command: KeyCommand, reasons: { code: string; message: string }[]) {
  const { received_at, principal } = command.metadata;
  return {
    type: command.type === 'registerKey' ? 'key.registration_rejected' : 'key.revocation_rejected',
    data: { input: inputOf(command), reasons: storedReasons(reasons), received_at, principal },
  };
}

/**
 * The key registry as the command handler runs it: one instance, the stream `ledger-keys`, so its
 * revision is the version of the key ring. Every sender is admitted here (the decider records a
 * non-operator's attempt as FORBIDDEN in the registry's own stream; HTTP refuses them earlier).
 * The optional `Idempotency-Key` header deduplicates retries, per sender and kind of command.
 */
export const keyRegistryAggregate: Aggregate<KeyCommand, KeyRegistryState, KeyEvent> = {
  decider: keyRegistryDecider,
  streamOf: () => KEYS_STREAM,
  admit: () => undefined,

  keyOf(command) {
    const key = command.metadata.idempotency_key;
    if (key === undefined || !idempotencyKey.safeParse(key).success || !key.isWellFormed())
      return undefined;
    return { space: SPACE[command.type], key };
  },

  storedKeyOf: (event) => event.metadata?.idempotency_key,

  recordedInput(event) {
    switch (event.type) {
      case 'key.registered': {
        const { key_id, owner, public_key, not_before, not_after } = event.data as Record<
          string,
          unknown
        >;
        return { key_id, owner, public_key, not_before, not_after };
      }
      case 'key.revoked':
        return {
          key_id: field(event.data, 'key_id'),
          body: { reason: field(event.data, 'reason') },
        };
      case 'key.registration_rejected':
      case 'key.revocation_rejected':
        return field(event.data, 'input');
      default:
        return undefined;
    }
  },

  inputOf,
  unattributed: rejection,
  keyReused: (command, reason): RecordedEvent => rejection(command, [reason]),

  answerOf(_stream, event) {
    const keyId = field(event?.data, 'key_id');
    return typeof keyId === 'string' ? { key_id: keyId } : {};
  },

  traceOf: () => undefined,
};
