import { jsonDigest } from '../audit/canonical-json.ts';
import { evolveMission, recordedInput, type MissionState } from '../domain/mission/index.ts';

/** What a later retry needs to know about an input recorded under an idempotency key. */
export interface PriorOutcome {
  revision: number;
  position: number;
  type: string;
  /** Digest of the input as received (RFC 8785 canonical JSON); undefined if none was recorded. */
  inputDigest: string | undefined;
  /** Present when the input was rejected. */
  reasons: { code: string; message: string }[] | undefined;
  /** Present on dispatches: the session and workspace the mission was bound to. */
  vpSessionId: string | undefined;
  workspaceKey: string | undefined;
}

/** A mission stream folded up to `revision`, with the outcomes of its idempotency keys. */
export interface MissionEntry {
  /** Revision of the last folded event; -1 when the stream has none. */
  revision: number;
  state: MissionState | undefined;
  priors: Map<string, PriorOutcome>;
}

/** An event as the fold needs it: from a read, or just appended by this process. */
export interface FoldableEvent {
  type: string;
  data: unknown;
  revision: number;
  position: number;
  idempotencyKey: string | undefined;
}

const field = (data: unknown, key: string): unknown =>
  typeof data === 'object' && data !== null ? (data as Record<string, unknown>)[key] : undefined;

/** Folds events (in revision order) onto an entry, returning the advanced entry. */
export function foldEntry(entry: MissionEntry, events: readonly FoldableEvent[]): MissionEntry {
  let { state, revision } = entry;
  for (const event of events) {
    state = evolveMission(state, event);
    revision = event.revision;
    if (event.idempotencyKey === undefined) continue;
    const input = recordedInput(event);
    const reasons = field(event.data, 'reasons') as PriorOutcome['reasons'];
    entry.priors.set(event.idempotencyKey, {
      revision: event.revision,
      position: event.position,
      type: event.type,
      inputDigest: input === undefined ? undefined : jsonDigest(input),
      reasons,
      vpSessionId: field(event.data, 'vp_session_id') as string | undefined,
      workspaceKey: field(event.data, 'workspace_key') as string | undefined,
    });
  }
  return { state, revision, priors: entry.priors };
}

export const emptyEntry = (): MissionEntry => ({
  revision: -1,
  state: undefined,
  priors: new Map(),
});

/**
 * Folded mission streams, least recently used evicted first. Commands decide on the cached fold
 * and append with its revision as the expected revision: when another process moved the stream,
 * the append conflicts and the command reads what it missed and decides again. So the cache is
 * never trusted for correctness, only for speed: one round trip per command instead of two.
 */
export class MissionCache {
  private readonly entries = new Map<string, MissionEntry>();

  constructor(private readonly capacity: number) {}

  get(stream: string): MissionEntry | undefined {
    const entry = this.entries.get(stream);
    if (entry !== undefined) {
      this.entries.delete(stream);
      this.entries.set(stream, entry);
    }
    return entry;
  }

  set(stream: string, entry: MissionEntry): void {
    this.entries.delete(stream);
    this.entries.set(stream, entry);
    if (this.entries.size > this.capacity) {
      const oldest = this.entries.keys().next().value;
      if (oldest !== undefined) this.entries.delete(oldest);
    }
  }

  /**
   * Records events this process appended at `from + 1 ...`, but only if the cached entry is still
   * the one the command decided on; otherwise drops it, and the next command reads afresh.
   */
  advance(stream: string, decidedOn: MissionEntry, appended: readonly FoldableEvent[]): void {
    const current = this.entries.get(stream);
    if (current !== decidedOn || appended[0]?.revision !== decidedOn.revision + 1) {
      this.entries.delete(stream);
      return;
    }
    this.set(stream, foldEntry(decidedOn, appended));
  }

  delete(stream: string): void {
    this.entries.delete(stream);
  }
}
