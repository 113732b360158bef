import type { KeyRegisteredData, KeyRevokedData } from '../../../schemas/index.ts';
import type { KeyRing, SigningKey } from '../../policy/signature.ts';
import type { RecordedEvent } from '../decider.ts';

/** A key as the registry holds it: the ring's view, and where its registration and revocation are. */
export interface RegisteredKey extends SigningKey {
  /** Revision of its `key.registered` event in `ledger-keys`. */
  registered_revision: number;
  /** Revision of its `key.revoked` event; null while not revoked. */
  revoked_revision: number | null;
  revocation_reason: string | null;
  /** The validity start as registered: null when it was left to the registration time. */
  requested_not_before: string | null;
}

/** The key registry: the `ledger-keys` stream folded. */
export interface KeyRegistryState {
  /** Revision of the last folded event; -1 before the first. */
  revision: number;
  keys: ReadonlyMap<string, RegisteredKey>;
}

/** The registry before its first event. */
export const initialKeyRegistryState = (): KeyRegistryState => ({ revision: -1, keys: new Map() });

/**
 * Moves the registry by one event of its stream (every event, rejections included, advances the
 * revision: the stream has one event per revision). Never mutates `state`: folds are cached and
 * shared.
 */
export function evolveKeyRegistry(state: KeyRegistryState, event: RecordedEvent): KeyRegistryState {
  const revision = state.revision + 1;
  switch (event.type) {
    case 'key.registered': {
      const data = event.data as KeyRegisteredData;
      const keys = new Map(state.keys);
      keys.set(data.key_id, {
        key_id: data.key_id,
        owner: data.owner,
        public_key: data.public_key,
        not_before: data.not_before ?? data.registered_at,
        not_after: data.not_after,
        revoked_at: null,
        registered_at: data.registered_at,
        registered_revision: revision,
        revoked_revision: null,
        revocation_reason: null,
        requested_not_before: data.not_before,
      });
      return { revision, keys };
    }
    case 'key.revoked': {
      const data = event.data as KeyRevokedData;
      const key = state.keys.get(data.key_id);
      // The decider revokes only registered, unrevoked keys: the first revocation stands.
      if (key === undefined || key.revoked_at !== null) return { revision, keys: state.keys };
      const keys = new Map(state.keys);
      keys.set(data.key_id, {
        ...key,
        revoked_at: data.revoked_at,
        revoked_revision: revision,
        revocation_reason: data.reason,
      });
      return { revision, keys };
    }
    default:
      return { revision, keys: state.keys };
  }
}

/** The key ring of a registry state: each key as signatures are checked against it. */
export function keyRingFromState(state: KeyRegistryState): KeyRing {
  const keys = new Map<string, SigningKey>();
  for (const key of state.keys.values()) {
    keys.set(key.key_id, {
      key_id: key.key_id,
      owner: key.owner,
      public_key: key.public_key,
      not_before: key.not_before,
      not_after: key.not_after,
      revoked_at: key.revoked_at,
      registered_at: key.registered_at,
    });
  }
  return { keys, revision: state.revision };
}

/**
 * The key ring the events of `ledger-keys` fold to, in revision order from its first: what a
 * replay uses to check the signatures of inputs recorded after them.
 */
export function keyRingOf(events: Iterable<RecordedEvent>): KeyRing {
  let state = initialKeyRegistryState();
  for (const event of events) state = evolveKeyRegistry(state, event);
  return keyRingFromState(state);
}
