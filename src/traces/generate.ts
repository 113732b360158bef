import type { Environment } from '../../schemas/policy-decision.ts';
import type { TraceLine } from '../../schemas/trace.ts';
import { activatePolicy, type ActivePolicy } from '../policy/active-policy.ts';
import { signInput } from '../policy/signature.ts';
import { shippedProfiles } from '../policy/shipped-profiles.ts';
import { faultKinds, faultRates, type FaultKind } from './faults.ts';
import { MissionIntent, type CallbackFacts, type SignatureState } from './intent.ts';
import { MinHeap } from './min-heap.ts';
import { SeededRandom } from './random.ts';
import { ed25519KeyFromSeed, type TraceKey } from './trace-keys.ts';

/** What `ledger trace generate` takes. */
export interface GenerateOptions {
  seed: number;
  missions: number;
  /** Sign every input (but the signature faults) and register the keys first. */
  signed: boolean;
  /** ISO-8601: the receive time of the first line; the clock only moves forward from it. */
  start: string;
  /**
   * The environment whose control-plane-strict-v1 modes `recorded` states. Default: production
   * for a signed trace, staging for an unsigned one (production would reject every unsigned input
   * with SIGNATURE_MISSING, which says nothing about the other faults).
   */
  environment?: Environment;
}

/** The default start of a generated trace's clock. */
export const DEFAULT_TRACE_START = '2026-01-01T00:00:00.000Z';

/** The profile whose decisions a generated trace's `recorded` fields state. */
export const INTENT_PROFILE = 'control-plane-strict-v1';

const CONTROL_PLANE = 'simone-cp-eu1';
const FACTORIES = ['ua-factory-01', 'ua-factory-02', 'ua-factory-03', 'ua-factory-04'] as const;
const LANES = 3;
const SECOND = 1000;
const MINUTE = 60 * SECOND;
const DAY = 24 * 60 * MINUTE;

const missionTypes = {
  coding: {
    vp: 'vp.coder.primary',
    objective: 'Add cursor-based pagination to a list endpoint and cover it with contract tests.',
    outputs: ['patch.diff', 'test-report.json', 'summary.md'],
    tools: ['git', 'npm', 'shell.read', 'editor'],
  },
  research: {
    vp: 'vp.researcher.primary',
    objective: 'Compare three event-store designs and recommend one, with sources.',
    outputs: ['report.md', 'sources.json'],
    tools: ['browser.read', 'editor'],
  },
  automation: {
    vp: 'vp.operator.primary',
    objective: 'Rotate the staging database credentials and verify every service reconnects.',
    outputs: ['runbook-log.txt', 'summary.md'],
    tools: ['shell.read', 'vault.rotate'],
  },
  custom: {
    vp: 'vp.generalist.primary',
    objective: 'Triage the open issues labelled bug and draft a fix plan for the top three.',
    outputs: ['summary.md'],
    tools: ['issues.read', 'editor'],
  },
} as const;
type MissionType = keyof typeof missionTypes;
const typeNames = Object.keys(missionTypes) as MissionType[];

/** A body built here from strings, numbers, arrays and plain objects only: JSON by construction. */
const asJson = (body: object): TraceLine['body'] => body as TraceLine['body'];

const iso = (ms: number): string => new Date(ms).toISOString();
const pad = (n: number): string => String(n).padStart(6, '0');

/** One line before its `seq`, with its place in receive order. */
interface Pending {
  at: number;
  mission: number;
  order: number;
  line: Omit<TraceLine, 'seq'>;
}

/** Receive order: time, then mission, then the mission's own order. */
type Place = Pick<Pending, 'at' | 'mission' | 'order'>;
const before = (a: Place, b: Place): boolean =>
  a.at !== b.at ? a.at < b.at : a.mission !== b.mission ? a.mission < b.mission : a.order < b.order;

/** The keys of a signed trace: the control plane's and three per factory. */
interface Keys {
  controlPlane: TraceKey;
  factories: Map<string, { current: TraceKey; expired: TraceKey; leaked: TraceKey }>;
}

function makeKeys(seed: number): Keys {
  // A stream of its own, so the keys do not depend on how many missions are drawn.
  const random = new SeededRandom(seed ^ 0x6b657973);
  const controlPlane = ed25519KeyFromSeed(`${CONTROL_PLANE}.k1`, CONTROL_PLANE, random.bytes(32));
  const factories = new Map(
    FACTORIES.map((factory) => [
      factory,
      {
        current: ed25519KeyFromSeed(`${factory}.k1`, factory, random.bytes(32)),
        expired: ed25519KeyFromSeed(`${factory}.k0`, factory, random.bytes(32)),
        leaked: ed25519KeyFromSeed(`${factory}.k1-ci`, factory, random.bytes(32)),
      },
    ]),
  );
  return { controlPlane, factories };
}

const operator = { role: 'operator' as const, id: CONTROL_PLANE };
const factoryPrincipal = (id: string) => ({ role: 'factory' as const, id });

/** The `key.register` lines of a signed trace, received at `start`. */
function keyRegistrations(keys: Keys, start: number): Pending[] {
  const lines: Pending[] = [];
  const register = (key: TraceKey, window: { not_before?: string; not_after?: string }) =>
    lines.push({
      at: start,
      mission: -1,
      order: lines.length,
      line: {
        kind: 'key.register',
        received_at: iso(start),
        principal: operator,
        headers: { 'idempotency-key': `register:${key.key_id}` },
        body: { key_id: key.key_id, owner: key.owner, public_key: key.public_key, ...window },
        recorded: { outcome: 'accepted', reasons: [] },
      },
    });
  register(keys.controlPlane, {});
  for (const { current, expired, leaked } of keys.factories.values()) {
    register(current, {});
    register(expired, { not_before: iso(start - 90 * DAY), not_after: iso(start - DAY) });
    register(leaked, {});
  }
  return lines;
}

/** The `key.revoke` lines: every factory's leaked key, at `at`, before mission `mission`. */
function keyRevocations(keys: Keys, at: number, mission: number): Pending[] {
  return [...keys.factories.values()].map(({ leaked }, i) => ({
    at,
    mission,
    order: -100 + i,
    line: {
      kind: 'key.revoke',
      received_at: iso(at),
      principal: operator,
      target: leaked.key_id,
      headers: { 'idempotency-key': `revoke:${leaked.key_id}` },
      body: { reason: 'The key was printed in a CI log.' },
      recorded: { outcome: 'accepted', reasons: [] },
    },
  }));
}

/** Draws the faults of one mission, each at its rate. */
function drawFaults(
  random: SeededRandom,
  signed: boolean,
  afterRevocation: boolean,
): Set<FaultKind> {
  const faults = new Set<FaultKind>();
  for (const kind of faultKinds) {
    const hit = random.chance(faultRates[kind].rate);
    if (!hit) continue;
    if (faultRates[kind].signedOnly && !signed) continue;
    if (kind === 'revoked_key' && !afterRevocation) continue;
    faults.add(kind);
  }
  return faults;
}

/** Everything one mission sends: its lines in the mission's own receive order. */
function missionLines(args: {
  index: number;
  seed: number;
  dispatchAt: number;
  random: SeededRandom;
  active: ActivePolicy;
  keys: Keys | undefined;
  afterRevocation: boolean;
}): Pending[] {
  const { index, seed, dispatchAt, random, active, keys } = args;
  const signed = keys !== undefined;
  const maxAge = active.profile.settings.max_input_age_seconds;
  const faults = drawFaults(random, signed, args.afterRevocation);

  const type = random.pick(typeNames);
  const spec = missionTypes[type];
  const factory = random.pick(FACTORIES);
  const lane = random.int(1, LANES);
  const otherLane = ((lane + random.int(0, LANES - 2)) % LANES) + 1;
  const missionId = `msn_s${seed}_${pad(index)}`;
  const vpSessionId = `vps_${random.hex(24)}`;
  const traceId = random.hex(32);
  const runtime = `rt.${type}.lane-${lane}`;
  const createdAt = dispatchAt - random.int(100, 5 * SECOND);
  const steps = random.int(1, 5);
  const budget = {
    max_runtime_minutes: random.int(30, 240),
    max_llm_calls: random.int(60, 600),
    max_cost_usd: random.int(5, 60),
  };
  const intent = new MissionIntent(active, {
    mission_id: missionId,
    vp_id: spec.vp,
    vp_session_id: vpSessionId,
    vp_runtime_id: runtime,
    target_instance_id: factory,
    trace_id: traceId,
    budget,
    required_outputs: spec.outputs,
  });

  const lines: Pending[] = [];
  let clock = dispatchAt;
  const push = (at: number, line: Omit<TraceLine, 'seq'>) => {
    lines.push({ at, mission: index, order: lines.length, line });
  };
  const sign = (body: unknown, key: TraceKey | undefined): { 'ledger-signature'?: string } =>
    key === undefined ? {} : { 'ledger-signature': signInput(body, key) };

  // The dispatch.
  const dispatch = {
    mission_id: missionId,
    vp_id: spec.vp,
    vp_session_id: vpSessionId,
    vp_runtime_id: runtime,
    source_instance_id: CONTROL_PLANE,
    target_instance_id: factory,
    mission_type: type,
    objective: spec.objective,
    constraints: {
      allowed_tools: [...spec.tools],
      forbidden_tools: ['shell.sudo', 'network.egress'],
      approval_required: ['git.push'],
    },
    budget,
    autonomy_window: {
      start_at: iso(createdAt - 3 * 60 * MINUTE),
      end_at: iso(createdAt + 2 * DAY),
    },
    heartbeat_interval_seconds: 300,
    report_cadence: random.pick(['milestone', 'interval', 'hybrid'] as const),
    success_criteria: ['The objective is met', 'Every required output is indexed'],
    artifact_policy: { required_outputs: [...spec.outputs], storage_scope: 'shared' },
    callback: {
      status_url: `https://simone.internal.example.com/api/v1/missions/${missionId}/events`,
      auth_mode: 'bearer',
      auth_ref: 'env://UA_INTERNAL_API_TOKEN',
    },
    idempotency_key: `dispatch:${missionId}:1`,
    trace_id: traceId,
    created_at: iso(createdAt),
  };
  push(clock, {
    kind: 'dispatch',
    received_at: iso(clock),
    principal: operator,
    headers: sign(dispatch, keys?.controlPlane),
    body: dispatch,
    recorded: intent.dispatch(
      dispatch,
      CONTROL_PLANE,
      dispatch.created_at,
      iso(clock),
      signed ? 'valid' : 'missing',
    ),
  });

  // The factory's callbacks; `usage` is cumulative, in cents for the cost so sums stay exact.
  let keySeq = 0;
  let runtimeMinutes = 0;
  let llmCalls = 0;
  let costCents = 0;
  const usage = () => ({
    runtime_minutes: runtimeMinutes,
    llm_calls: llmCalls,
    estimated_cost_usd: costCents / 100,
  });
  const grow = () => {
    runtimeMinutes += random.int(
      1,
      Math.max(1, Math.floor(budget.max_runtime_minutes / (steps + 3))),
    );
    llmCalls += random.int(1, Math.max(1, Math.floor(budget.max_llm_calls / (steps + 3))));
    costCents += random.int(1, Math.max(1, Math.floor((budget.max_cost_usd * 100) / (steps + 3))));
  };
  const callbackBody = (
    eventType: string,
    status: string,
    summary: string,
    extra: Record<string, unknown> = {},
  ): CallbackFacts & Record<string, unknown> => ({
    mission_id: missionId,
    vp_id: spec.vp,
    vp_session_id: vpSessionId,
    vp_runtime_id: runtime,
    event_type: eventType,
    status,
    summary,
    artifact_refs: [],
    usage: usage(),
    trace_id: traceId,
    idempotency_key: `event:${missionId}:${(keySeq += 1)}`,
    emitted_at: iso(clock - random.int(20, 3 * SECOND)),
    ...extra,
  });
  const advance = () => {
    clock += random.int(10 * SECOND, 4 * MINUTE);
  };
  /** Posts a callback; returns the line so that faults may re-send it. */
  const post = (
    body: CallbackFacts & Record<string, unknown>,
    how: { sender?: string; signature?: SignatureState; tamper?: boolean } = {},
  ): Omit<TraceLine, 'seq'> => {
    const sender = how.sender ?? factory;
    const state: SignatureState = !signed
      ? 'missing'
      : how.tamper === true
        ? 'tampered'
        : (how.signature ?? 'valid');
    const senderKeys = keys?.factories.get(sender);
    const key =
      state === 'expired'
        ? senderKeys?.expired
        : state === 'revoked'
          ? senderKeys?.leaked
          : state === 'missing'
            ? undefined
            : senderKeys?.current;
    const headers = sign(body, key);
    // Tampering happens after signing: the signature covers the body as the factory sent it.
    const sent =
      how.tamper === true ? { ...body, summary: `${body.summary} (edited in transit)` } : body;
    const line: Omit<TraceLine, 'seq'> = {
      kind: 'callback',
      received_at: iso(clock),
      principal: factoryPrincipal(sender),
      target: missionId,
      headers,
      body: asJson(sent),
      recorded: intent.callback(sent, sender, iso(clock), state),
    };
    push(clock, line);
    return line;
  };
  const resend = (line: Omit<TraceLine, 'seq'>) => {
    const body = line.body as unknown as CallbackFacts;
    const state: SignatureState = signed ? 'valid' : 'missing';
    const again = {
      ...line,
      received_at: iso(clock),
      recorded: intent.callback(body, line.principal.id, iso(clock), state),
    };
    push(clock, again);
  };

  // The faults that are extra inputs, each at a point while the mission runs.
  const cancelAt = faults.has('cancel_mid_flight') ? random.int(0, steps - 1) : steps;
  const extras = faultKinds.filter(
    (kind) =>
      faults.has(kind) &&
      !['duplicate_delivery', 'missing_outputs', 'stale_replay', 'cancel_mid_flight'].includes(
        kind,
      ),
  );
  const extraAt = new Map(extras.map((kind) => [kind, random.int(0, cancelAt)]));
  // Which callback is delivered twice: -1 the mission.accepted, else that progress step's.
  const duplicateAt = faults.has('duplicate_delivery') ? random.int(-1, cancelAt - 1) : -2;

  advance();
  const accepted = post(
    callbackBody('mission.accepted', 'running', `Accepted by ${factory}; planning.`),
  );
  if (duplicateAt === -1) {
    clock += random.int(SECOND, 30 * SECOND);
    resend(accepted);
  }
  for (let step = 0; step <= cancelAt; step += 1) {
    for (const kind of extras) {
      if (extraAt.get(kind) !== step) continue;
      advance();
      const base = () => callbackBody('mission.progress', 'running', `Progress report (${kind}).`);
      switch (kind) {
        case 'late_delivery': {
          const body = base();
          body.emitted_at = iso(clock - (maxAge + random.int(60, 3600)) * SECOND);
          post(body);
          break;
        }
        case 'identity_mismatch':
          post({ ...base(), vp_runtime_id: `rt.${type}.lane-${otherLane}` });
          break;
        case 'trace_mismatch':
          post({ ...base(), trace_id: random.hex(32) });
          break;
        case 'budget_overrun': {
          const body = base();
          body.usage = { ...body.usage, llm_calls: budget.max_llm_calls + random.int(1, 200) };
          // Where a policy only warns, the ledger takes the count: the factory's counter goes on.
          if (post(body).recorded?.outcome === 'accepted') llmCalls = body.usage.llm_calls;
          break;
        }
        case 'wrong_instance':
          post(base(), { sender: FACTORIES[(FACTORIES.indexOf(factory) + 1) % FACTORIES.length] });
          break;
        case 'unsigned':
          post(base(), { signature: 'missing' });
          break;
        case 'bad_signature':
          post(base(), { tamper: true });
          break;
        case 'expired_key':
          post(base(), { signature: 'expired' });
          break;
        case 'revoked_key':
          post(base(), { signature: 'revoked' });
          break;
        default:
          break;
      }
    }
    if (step === cancelAt) break;
    advance();
    grow();
    const progress = post(
      callbackBody('mission.progress', 'running', `Step ${step + 1} of ${steps} done.`),
    );
    if (step === duplicateAt) {
      clock += random.int(SECOND, 30 * SECOND);
      resend(progress);
    }
  }

  const finalExtra = (outputs: readonly string[]) => ({
    artifact_index: outputs.map((ref) => ({ ref: `s3://factory-artifacts/${missionId}/${ref}` })),
    next_action: 'Review the outputs and close the mission.',
  });
  if (faults.has('cancel_mid_flight')) {
    advance();
    const cancel = { reason: 'Superseded by a newer mission.' };
    const key = `cancel:${missionId}:1`;
    push(clock, {
      kind: 'cancel',
      received_at: iso(clock),
      principal: operator,
      target: missionId,
      headers: { 'idempotency-key': key },
      body: cancel,
      recorded: intent.cancel(cancel, CONTROL_PLANE, key),
    });
    advance();
    post(callbackBody('mission.cancelled', 'cancelled', 'Stopped on request.', finalExtra([])));
  } else {
    const failed = random.chance(0.1);
    if (faults.has('missing_outputs') && !failed) {
      advance();
      grow();
      post(
        callbackBody('mission.completed', 'completed', 'Done.', finalExtra(spec.outputs.slice(1))),
      );
    }
    advance();
    if (!faults.has('missing_outputs')) grow();
    post(
      failed
        ? callbackBody('mission.failed', 'failed', 'Could not finish.', finalExtra([]))
        : callbackBody('mission.completed', 'completed', 'Done.', finalExtra(spec.outputs)),
    );
  }
  if (faults.has('stale_replay')) {
    clock += (maxAge + random.int(60, 3600)) * SECOND;
    resend(accepted);
  }
  return lines;
}

/**
 * A realistic trace, deterministically: the same options give the same lines, byte for byte.
 * Missions are dispatched 5 to 120 s apart to one of four factories and three runtime lanes; each
 * is accepted, reports 1 to 5 progress steps with growing usage 10 s to 4 min apart, and closes
 * (completed, or failed one time in ten); faults are injected at the rates of {@link faultRates}.
 * Lines of overlapping missions are merged in receive order as they are produced, so a trace of
 * any length streams in the memory of the missions in flight. Each line's `recorded` is what
 * {@link INTENT_PROFILE} in the chosen environment is meant to decide.
 */
export function* generateTrace(options: GenerateOptions): Generator<TraceLine> {
  const { seed, missions, signed } = options;
  const start = Date.parse(options.start);
  if (Number.isNaN(start)) throw new RangeError(`--start ${options.start} is not a date-time`);
  const environment = options.environment ?? (signed ? 'production' : 'staging');
  const active = activatePolicy(shippedProfiles[INTENT_PROFILE], environment, null);
  const random = new SeededRandom(seed);
  const keys = signed ? makeKeys(seed) : undefined;
  // Mid-trace, after the first mission at least, so that the keys are registered by then.
  const revokeBefore = Math.max(1, Math.floor(missions / 2));

  const heap = new MinHeap<Pending>(before);
  if (keys !== undefined) for (const line of keyRegistrations(keys, start)) heap.push(line);
  let seq = 0;
  const emitUntil = function* (limit: Place | undefined): Generator<TraceLine> {
    for (let next = heap.peek(); next !== undefined; next = heap.peek()) {
      if (limit !== undefined && !before(next, limit)) return;
      heap.pop();
      seq += 1;
      yield { seq, ...next.line };
    }
  };

  let dispatchAt = start;
  for (let index = 0; index < missions; index += 1) {
    // The first mission is dispatched at the start; the others 5 s to 2 min after the one before.
    if (index > 0) dispatchAt += random.int(5 * SECOND, 2 * MINUTE);
    if (keys !== undefined && index === revokeBefore)
      for (const line of keyRevocations(keys, dispatchAt - SECOND, index)) heap.push(line);
    yield* emitUntil({ at: dispatchAt, mission: index, order: -1000 });
    const lines = missionLines({
      index,
      seed,
      dispatchAt,
      random,
      active,
      keys,
      afterRevocation: keys !== undefined && index >= revokeBefore,
    });
    for (const line of lines) heap.push(line);
  }
  yield* emitUntil(undefined);
}

/** A trace line as the file holds it: one JSON object, keys in schema order, and a newline. */
export function traceLineText(line: TraceLine): string {
  const { seq, kind, received_at, principal, target, headers, body, recorded } = line;
  return `${JSON.stringify({ seq, kind, received_at, principal, target, headers, body, recorded })}\n`;
}
