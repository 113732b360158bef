import { expect } from 'vitest';
import {
  applyChanges,
  keyOf,
  lookupIn,
  replayProjection,
  snapshot,
  type ProjectionFold,
  type ReadModel,
  type RowChange,
  type TableSpec,
} from '../../../projections/index.ts';
import { storedEventSchema, type StoredEvent } from '../../../schemas/index.ts';
import {
  decideCancel,
  missionStream,
  workspaceKey,
  type MissionEvent,
  type RecordedEvent,
} from '../../../src/domain/mission/index.ts';
import {
  ALLOCATED_SESSION,
  MISSION_ID,
  accepted,
  callbackPayload,
  dispatchPayload,
  dispatched,
  given as missionGiven,
} from './mission-given.ts';

const FALLBACK_RECORDED_AT = '2025-11-20T08:00:00.000Z';

/**
 * A global log under construction, as a store would return it: dense positions from 1, revisions
 * per stream from 0, data round-tripped through JSON, `recorded_at` taken from the data's
 * `received_at` (or given).
 */
export class EventLog {
  readonly events: StoredEvent[] = [];
  private readonly revisions = new Map<string, number>();

  /** Appends one event to `stream` and returns it as stored. */
  append(stream: string, event: RecordedEvent, recordedAt?: string): StoredEvent {
    const position = this.events.length + 1;
    const revision = this.revisions.get(stream) ?? 0;
    this.revisions.set(stream, revision + 1);
    const data = JSON.parse(JSON.stringify(event.data)) as Record<string, unknown>;
    const receivedAt = typeof data.received_at === 'string' ? data.received_at : undefined;
    const stored = storedEventSchema.parse({
      id: `00000000-0000-4000-8000-${position.toString(16).padStart(12, '0')}`,
      stream,
      revision,
      position,
      type: event.type,
      data,
      metadata: { recorded_at: recordedAt ?? receivedAt ?? FALLBACK_RECORDED_AT },
    });
    this.events.push(stored);
    return stored;
  }

  /** Appends events to `mission-{missionId}`; returns the last one. */
  mission(missionId: string, ...events: RecordedEvent[]): StoredEvent {
    let last: StoredEvent | undefined;
    for (const event of events) last = this.append(missionStream(missionId), event);
    return last!;
  }
}

/** A `vp_session.mission_bound` event as ledgers before the registry projection wrote it. */
export function missionBound(
  missionId: string,
  options: { vp_id?: string; vp_session_id?: string; vp_runtime_id?: string } = {},
): RecordedEvent & { stream: string } {
  const vpId = options.vp_id ?? 'vp.coder.primary';
  const vpSessionId = options.vp_session_id ?? 'vps_01JD8Z5YB2W9E4QK7TPM0RXAGD';
  const key = workspaceKey(vpId, vpSessionId);
  return {
    stream: `vp-session-${key}`,
    type: 'vp_session.mission_bound',
    data: {
      vp_id: vpId,
      vp_session_id: vpSessionId,
      vp_runtime_id: options.vp_runtime_id ?? 'rt.coder.lane-2',
      workspace_key: key,
      mission_id: missionId,
    },
  };
}

/** Appends a binding to its session stream at `recordedAt`. */
export function bind(
  log: EventLog,
  missionId: string,
  recordedAt: string,
  options: Parameters<typeof missionBound>[1] = {},
): StoredEvent {
  const { stream, ...event } = missionBound(missionId, options);
  return log.append(stream, event, recordedAt);
}

/** The `then` side: the changes one event made and the read model after them. */
export class ThenRows<Tables> {
  constructor(
    readonly projection: ProjectionFold<Tables>,
    readonly before: ReadModel,
    readonly changes: RowChange<Tables>[],
  ) {
    const specs = projection.tables as Record<string, TableSpec<unknown>>;
    for (const change of changes) {
      // Every change names a table of the projection and the key its row's columns make.
      const spec = specs[change.table];
      expect(spec, `unknown table ${change.table}`).toBeDefined();
      if (change.row !== null) expect(change.key).toBe(keyOf(spec!, change.row));
    }
  }

  /** The read model after the event. */
  get after(): ReadModel {
    return applyChanges(this.before, this.changes);
  }

  /** The row of `table` under `key` after the event. */
  row<T extends keyof Tables & string>(table: T, key: string): Tables[T] | undefined {
    return lookupIn<Tables>(this.after)(table, key);
  }

  /** Every row of `table` after the event, in key order. */
  rows<T extends keyof Tables & string>(table: T): Tables[T][] {
    return (snapshot(this.after)[table] ?? []) as Tables[T][];
  }
}

/** The `when` side: the read model the given events made. */
export class GivenRows<Tables> {
  readonly model: ReadModel;

  constructor(
    readonly projection: ProjectionFold<Tables>,
    events: readonly StoredEvent[],
  ) {
    this.model = replayProjection(projection, events);
  }

  /** When one more event is applied (whether or not the projection handles its type). */
  when(event: StoredEvent): ThenRows<Tables> {
    return new ThenRows(
      this.projection,
      this.model,
      this.projection.apply(event, lookupIn<Tables>(this.model)),
    );
  }
}

/** Given the log's events so far (copied now), for one projection. */
export function given<Tables>(
  projection: ProjectionFold<Tables>,
  log: EventLog,
): GivenRows<Tables> {
  return new GivenRows(projection, [...log.events]);
}

/** When the rest of the scenario happens. */
export const at = (hhmm: string) => `2025-11-20T${hhmm}:00.000Z`;

const usage = (runtime_minutes: number, llm_calls: number, estimated_cost_usd: number) => ({
  runtime_minutes,
  llm_calls,
  estimated_cost_usd,
});

export const SECOND_MISSION = 'msn_01JD9A0RESEARCH0000000000B';

/**
 * A realistic log: mission MISSION_ID (coding) dispatched, bound to its session, accepted, blocked
 * for an approval, a callback rejected by identity, unblocked, an artifact, a cancel request and
 * completion; a second mission (research, same session) dispatched on another runtime lane that
 * fails over its LLM-call budget; a malformed dispatch recorded in `ledger-rejections`.
 */
export function realisticLog(): EventLog {
  const log = new EventLog();
  const first: MissionEvent[] = [dispatched()];
  const push = (...events: MissionEvent[]) => {
    first.push(...events);
    log.mission(MISSION_ID, ...events);
  };
  log.mission(MISSION_ID, first[0]!);
  bind(log, MISSION_ID, '2025-11-20T08:58:42.105Z');
  push(accepted('mission.accepted', { usage: usage(0.5, 2, 0.03) }, at('09:00')));
  push(
    accepted(
      'mission.progress',
      { usage: usage(10, 40, 1.2), summary: 'Cursor type drafted.' },
      at('09:10'),
    ),
  );
  push(
    accepted(
      'mission.blocked',
      { usage: usage(20, 60, 2), summary: 'Needs approval for git.push.' },
      at('09:20'),
    ),
  );
  const wrongIdentity = missionGiven(first).whenCallback(
    callbackPayload('mission.progress', { vp_id: 'vp.other', idempotency_key: 'event:wrong-vp' }),
    { received_at: at('09:25') },
  );
  push(...wrongIdentity.decision.events);
  push(
    accepted(
      'mission.progress',
      { usage: usage(30, 90, 3.1), summary: 'Approved; pushing.', idempotency_key: 'event:p2' },
      at('09:40'),
    ),
  );
  push(
    accepted(
      'mission.artifact',
      { usage: usage(35, 100, 3.5), artifact_refs: ['patch.diff', 'test-report.json'] },
      at('09:50'),
    ),
  );
  push(
    ...decideCancel(missionGiven(first).state, {
      reason: 'Operator wants to stop after the report.',
      requested_by: 'simone-cp-eu1',
      received_at: at('09:55'),
    }).events,
  );
  push(
    accepted(
      'mission.completed',
      {
        usage: usage(41, 120, 4.25),
        artifact_refs: ['patch.diff', 'test-report.json', 'summary.md'],
        summary: 'Pagination shipped; tests green.',
      },
      at('10:05'),
    ),
  );

  const second = dispatchPayload({
    mission_id: SECOND_MISSION,
    mission_type: 'research',
    vp_runtime_id: 'rt.coder.lane-5',
    idempotency_key: `dispatch:${SECOND_MISSION}:1`,
    budget: { max_runtime_minutes: 60, max_llm_calls: 100, max_cost_usd: 0 },
  });
  log.mission(SECOND_MISSION, dispatched(second));
  bind(log, SECOND_MISSION, '2025-11-20T08:58:43.000Z', { vp_runtime_id: 'rt.coder.lane-5' });
  const identity = {
    mission_id: SECOND_MISSION,
    vp_runtime_id: 'rt.coder.lane-5',
    idempotency_key: `event:${SECOND_MISSION}:x`,
  };
  log.mission(
    SECOND_MISSION,
    accepted('mission.accepted', { ...identity, usage: usage(1, 5, 0) }, at('10:30')),
    accepted(
      'mission.failed',
      { ...identity, usage: usage(50, 130, 0.4), summary: 'Ran out of LLM calls.' },
      at('11:15'),
    ),
  );

  log.append('ledger-rejections', {
    type: 'mission.dispatch_rejected',
    data: {
      input: { objective: 'no id' },
      reasons: [{ code: 'SCHEMA_INVALID', message: 'A dispatch needs a mission_id.' }],
      received_at: at('11:30'),
      principal: { role: 'operator', id: 'simone-cp-eu1' },
      mission_id: null,
    },
  });
  return log;
}

export { ALLOCATED_SESSION, MISSION_ID };
