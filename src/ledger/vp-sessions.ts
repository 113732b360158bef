import { isLedgerError } from '../errors.ts';
import { workspaceKey } from '../domain/mission/index.ts';
import type { EventStore, StoredEvent } from '../store/port.ts';

/**
 * The VP session registry (seed 002 section 1.1): every (vp_id, vp_session_id) pair maps to one
 * deterministic record, stream `vp-session-{workspace_key}`, holding one `vp_session.mission_bound`
 * event per mission dispatched to it. The record is the fold of that stream: the same pair always
 * resolves to the same record, with its current runtime lane.
 */
export const vpSessionStream = (key: string) => `vp-session-${key}`;

export interface VpSessionRecord {
  vp_id: string;
  vp_session_id: string;
  workspace_key: string;
  /** The runtime lane of the latest mission bound to the session. */
  vp_runtime_id: string;
  missions: string[];
  registered_at: string;
  updated_at: string;
}

/**
 * Binds a dispatched mission to its session record. Keyed by mission id, so a retried dispatch
 * (which calls this again to repair a write a crash cut off) appends nothing the second time.
 */
export async function registerVpSession(
  store: EventStore,
  payload: unknown,
  dispatched: { vp_session_id: string; workspace_key: string },
): Promise<void> {
  const input = payload as { mission_id: string; vp_id: string; vp_runtime_id: string };
  const data = {
    vp_id: input.vp_id,
    vp_session_id: dispatched.vp_session_id,
    vp_runtime_id: input.vp_runtime_id,
    workspace_key: dispatched.workspace_key,
    mission_id: input.mission_id,
  };
  try {
    await store.append(vpSessionStream(dispatched.workspace_key), [
      {
        type: 'vp_session.mission_bound',
        data,
        metadata: { idempotency_key: `mission:${input.mission_id}` },
      },
    ]);
  } catch (error) {
    // The binding exists already under this mission: nothing to repair.
    if (!isLedgerError(error, 'IDEMPOTENCY_KEY_REUSED')) throw error;
  }
}

/** Folds a session stream into its record; undefined when the pair was never dispatched to. */
export function foldVpSession(events: StoredEvent[]): VpSessionRecord | undefined {
  let record: VpSessionRecord | undefined;
  for (const event of events) {
    if (event.type !== 'vp_session.mission_bound') continue;
    const { mission_id: missionId, ...session } = event.data as Omit<
      VpSessionRecord,
      'missions' | 'registered_at' | 'updated_at'
    > & { mission_id: string };
    const at = event.metadata.recorded_at;
    record ??= { ...session, missions: [], registered_at: at, updated_at: at };
    record.vp_runtime_id = session.vp_runtime_id;
    if (!record.missions.includes(missionId)) record.missions.push(missionId);
    record.updated_at = at;
  }
  return record;
}

/** Reads the record of a (vp_id, vp_session_id) pair. */
export async function readVpSession(
  store: EventStore,
  vpId: string,
  vpSessionId: string,
): Promise<VpSessionRecord | undefined> {
  return foldVpSession(await store.readStream(vpSessionStream(workspaceKey(vpId, vpSessionId))));
}
