import { randomUUID } from 'node:crypto';
import { readFileSync } from 'node:fs';
import type { LifecycleEventType, MissionStatus, MissionUsage } from '../../schemas/index.ts';
import { expectedStatuses, finalEventTypes } from '../../src/domain/mission/index.ts';
import type { StoredEvent } from '../../src/store/port.ts';
import { TOKENS, type TestApp } from './http-app.ts';

type Json = Record<string, unknown>;

const readJson = (path: string): Json =>
  JSON.parse(readFileSync(new URL(`../../${path}`, import.meta.url), 'utf8')) as Json;

/** fixtures/mission-dispatch.example.json as it is on disk. */
export const dispatchExample: Json = readJson('fixtures/mission-dispatch.example.json');
/** fixtures/lifecycle-event.example.json as it is on disk (a `mission.accepted`). */
export const callbackExample: Json = readJson('fixtures/lifecycle-event.example.json');

let counter = 0;
const unique = () => `${Date.now().toString(36)}_${(counter += 1)}_${randomUUID().slice(0, 8)}`;

/** A fresh mission id (matches the ledger's mission id pattern). */
export const newMissionId = (): string => `msn_t_${unique()}`;

/** Applies overrides; a key overridden with `undefined` is removed. */
function withOverrides(base: Json, overrides: Json): Json {
  const out: Json = { ...base };
  for (const [key, value] of Object.entries(overrides)) {
    if (value === undefined) delete out[key];
    else out[key] = value;
  }
  return out;
}

/** A dispatch payload as the wire carries it: the fields the tests read, anything else open. */
export interface Dispatch extends Json {
  mission_id: string;
  vp_id: string;
  vp_session_id?: string;
  vp_runtime_id: string;
  target_instance_id: string;
  trace_id: string;
  idempotency_key: string;
  budget: { max_runtime_minutes: number; max_llm_calls: number; max_cost_usd: number };
}

/**
 * A valid dispatch from the fixture, with a unique mission_id and idempotency_key per call
 * (the callback URL follows the mission id). `overrides` replace top-level fields; `undefined`
 * removes one (e.g. `{ vp_session_id: undefined }` lets the ledger allocate a session).
 */
export function dispatchPayload(overrides: Json = {}): Dispatch {
  const missionId =
    typeof overrides.mission_id === 'string' ? overrides.mission_id : newMissionId();
  const base = structuredClone(dispatchExample);
  base.mission_id = missionId;
  base.idempotency_key = `dispatch:${missionId}:${unique()}`;
  base.callback = {
    ...(base.callback as Json),
    status_url: `https://simone.internal.example.com/api/v1/missions/${missionId}/events`,
  };
  return withOverrides(base, overrides) as Dispatch;
}

export interface CallbackOptions {
  event_type: LifecycleEventType;
  /** Defaults to the status the event type implies. */
  status?: MissionStatus;
  /** Defaults to zero usage. */
  usage?: MissionUsage;
  /** The session to name, when the dispatch had none (the ledger allocated it). */
  vp_session_id?: string;
  /** Top-level replacements; `undefined` removes a field. */
  overrides?: Json;
}

export const ZERO_USAGE: MissionUsage = { runtime_minutes: 0, llm_calls: 0, estimated_cost_usd: 0 };

/**
 * A valid lifecycle callback for `dispatch` with a unique idempotency_key. Final event types
 * carry an artifact_index and a next_action unless overridden away.
 */
export function callbackPayload(dispatch: Dispatch, options: CallbackOptions): Json {
  const status = options.status ?? expectedStatuses[options.event_type][0]!;
  const vpSessionId = options.vp_session_id ?? dispatch.vp_session_id;
  if (vpSessionId === undefined) throw new Error('callbackPayload needs a vp_session_id');
  const base: Json = {
    mission_id: dispatch.mission_id,
    vp_id: dispatch.vp_id,
    vp_session_id: vpSessionId,
    vp_runtime_id: dispatch.vp_runtime_id,
    event_type: options.event_type,
    status,
    summary: `${options.event_type} reported by the test factory`,
    artifact_refs: [],
    usage: options.usage ?? ZERO_USAGE,
    trace_id: dispatch.trace_id,
    idempotency_key: `event:${dispatch.mission_id}:${unique()}`,
    emitted_at: new Date().toISOString(),
  };
  if (finalEventTypes.includes(options.event_type)) {
    base.artifact_index = [{ ref: 'artifact://summary.md', description: 'Summary' }];
    base.next_action = 'Review the summary and merge the patch.';
  }
  return withOverrides(base, options.overrides ?? {});
}

/** Every event of a mission's stream, read page by page through GET /v1/missions/:id/events. */
export async function missionEvents(
  app: TestApp,
  missionId: string,
  token: string = TOKENS.auditor,
): Promise<StoredEvent[]> {
  const events: StoredEvent[] = [];
  let from = 0;
  for (;;) {
    const res = await app.call(
      'GET',
      `/v1/missions/${encodeURIComponent(missionId)}/events?from_revision=${from}&limit=1000`,
      { token },
    );
    if (res.status !== 200) {
      throw new Error(`GET events of ${missionId}: ${res.status} ${JSON.stringify(res.body)}`);
    }
    const page = res.body as { events: StoredEvent[]; next_from_revision: number };
    events.push(...page.events);
    if (page.events.length < 1000) return events;
    from = page.next_from_revision;
  }
}

/** Every event of the global log after `after`, read through GET /v1/events. */
export async function logEvents(
  app: TestApp,
  after = 0,
  token: string = TOKENS.auditor,
): Promise<StoredEvent[]> {
  const events: StoredEvent[] = [];
  let cursor = after;
  for (;;) {
    const res = await app.call('GET', `/v1/events?after=${cursor}&limit=1000`, { token });
    if (res.status !== 200) throw new Error(`GET /v1/events: ${res.status}`);
    const page = res.body as { events: StoredEvent[]; next_after: number };
    events.push(...page.events);
    if (page.events.length < 1000) return events;
    cursor = page.next_after;
  }
}

/** The position of the last event of the global log (0 when empty), through GET /v1/events. */
export async function logHead(app: TestApp, token: string = TOKENS.auditor): Promise<number> {
  return (await logEvents(app, 0, token)).at(-1)?.position ?? 0;
}

/** The reason codes of a rejection event. */
export const reasonCodes = (event: StoredEvent | undefined): string[] =>
  ((event?.data as { reasons?: { code: string }[] } | undefined)?.reasons ?? []).map((r) => r.code);
