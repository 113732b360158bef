/*
 * The names of the log's streams: the one home of this vocabulary. Auditors read streams by
 * these names, so they are part of the contract like the event schemas beside them.
 */

const MISSION_STREAM_PREFIX = 'mission-';

/** The stream holding one mission's events: its dispatch, callbacks, cancels and their rejections. */
export function missionStream(missionId: string): string {
  return `${MISSION_STREAM_PREFIX}${missionId}`;
}

/** The mission id of a `mission-{id}` stream; `undefined` for any other stream. */
export function missionIdOf(stream: string): string | undefined {
  return stream.startsWith(MISSION_STREAM_PREFIX) && stream.length > MISSION_STREAM_PREFIX.length
    ? stream.slice(MISSION_STREAM_PREFIX.length)
    : undefined;
}

/**
 * Where inputs are recorded that no mission stream may hold: inputs naming no existing mission
 * (appending to its stream would create it and make the real dispatch conflict) and inputs from a
 * sender the mission is not addressed to (they must not grow another sender's stream).
 */
export const REJECTIONS_STREAM = 'ledger-rejections';

/**
 * The signing key registry: every key registration, revocation and their rejections, in one
 * stream, so that its revision is the version of the key ring it folds to and a replay knows
 * which keys were valid when.
 */
export const KEYS_STREAM = 'ledger-keys';

/**
 * The VP session registry stream of a workspace key, written by ledgers before the registry was a
 * projection of `mission.dispatched`; logs keep these streams, so readers still know the name.
 */
export function vpSessionStream(workspaceKey: string): string {
  return `${VP_SESSION_STREAM_PREFIX}${workspaceKey}`;
}

/** True for a `vp-session-{workspace_key}` stream. */
export const isVpSessionStream = (stream: string): boolean =>
  stream.startsWith(VP_SESSION_STREAM_PREFIX);

const VP_SESSION_STREAM_PREFIX = 'vp-session-';

/**
 * The policy activations: which profile a serving process started with, and every switch an
 * operator made, so the log says which policy was in force when.
 */
export const POLICY_STREAM = 'ledger-policy';
