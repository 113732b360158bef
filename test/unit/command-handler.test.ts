import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { REJECTIONS_STREAM, missionStream, type Principal } from '../../schemas/index.ts';
import { missionAggregate, type MissionCommand } from '../../src/domain/mission/index.ts';
import { LedgerError } from '../../src/errors.ts';
import { CommandHandler, type CommandOutcome } from '../../src/ledger/command-handler.ts';
import { RejectionBudget } from '../../src/ledger/rejection-budget.ts';
import { openStore } from '../../src/store/open-store.ts';
import type { EventStore } from '../../src/store/port.ts';
import { callbackPayload, dispatchPayload, type Dispatch } from '../support/mission-fixtures.ts';
import { policyInForce } from '../support/policy.ts';

const OPERATOR: Principal = { role: 'operator', id: 'ops' };
const FACTORY: Principal = { role: 'factory', id: 'ua-factory-07' };
const STRANGER: Principal = { role: 'factory', id: 'ua-factory-99' };
const AT = '2026-12-03T10:00:00.000Z';

const meta = (principal: Principal, idempotency_key?: string) => ({
  received_at: AT,
  principal,
  idempotency_key,
  policy: policyInForce(),
});
const dispatch = (payload: unknown): MissionCommand => ({
  type: 'dispatchMission',
  data: { payload, allocated_session_id: 'vps_allocated' },
  metadata: meta(OPERATOR),
});
const callback = (d: Dispatch, payload: unknown, principal = FACTORY): MissionCommand => ({
  type: 'postCallback',
  data: { mission_id: d.mission_id, payload },
  metadata: meta(principal),
});

/** The one command handler over missions, on the in-memory store (the engine of simulation). */
describe('CommandHandler on the in-memory store', () => {
  let store: EventStore;
  const handler = (limits = { perMinute: 1000, bytesPerMinute: 1 << 30 }) =>
    new CommandHandler(missionAggregate, {
      store,
      rejections: new RejectionBudget(limits, () => 0),
    });

  beforeEach(async () => {
    store = await openStore('memory:');
  });
  afterEach(async () => {
    await store.close();
  });

  async function running(h = handler()) {
    const d = dispatchPayload();
    expect((await h.handle(dispatch(d))).outcome).toBe('accepted');
    const accepted = callbackPayload(d, { event_type: 'mission.accepted' });
    expect((await h.handle(callback(d, accepted))).outcome).toBe('accepted');
    return d;
  }

  it('accepts, then answers a retry with the original outcome and appends nothing', async () => {
    const h = handler();
    const d = dispatchPayload({ vp_session_id: undefined });
    const first = await h.handle(dispatch(d));
    expect(first).toMatchObject({
      outcome: 'accepted',
      revision: 0,
      position: 1,
      answer: { mission_id: d.mission_id, vp_session_id: 'vps_allocated' },
    });
    const again = await h.handle(dispatch(d));
    expect(again).toEqual({ ...first, outcome: 'duplicate' });
    expect(await store.headPosition()).toBe(1);
  });

  it('records another input under a used key as IDEMPOTENCY_KEY_REUSED, under no key', async () => {
    const h = handler();
    const d = dispatchPayload();
    await h.handle(dispatch(d));
    const outcome = await h.handle(dispatch({ ...d, objective: 'Something else' }));
    expect(outcome).toMatchObject({
      outcome: 'rejected',
      reasons: [{ code: 'IDEMPOTENCY_KEY_REUSED' }],
      recorded: { stream: missionStream(d.mission_id), revision: 1 },
      duplicate: false,
    });
    const [, recorded] = await store.readStream(missionStream(d.mission_id));
    expect(recorded).toMatchObject({ type: 'mission.dispatch_rejected' });
    expect(recorded!.metadata.idempotency_key).toBeUndefined();
  });

  it('replays a recorded rejection as a duplicate rejection', async () => {
    const h = handler();
    const d = dispatchPayload();
    await h.handle(dispatch(d));
    const early = callbackPayload(d, { event_type: 'mission.progress' });
    const first = await h.handle(callback(d, early));
    expect(first).toMatchObject({ outcome: 'rejected', reasons: [{ code: 'TRANSITION_ILLEGAL' }] });
    const again = await h.handle(callback(d, early));
    expect(again).toEqual({ ...first, duplicate: true });
    expect(await store.headPosition()).toBe(2);
  });

  it("records a callback for an unknown mission, and a stranger's, in the rejections stream", async () => {
    const h = handler();
    const ghost = dispatchPayload();
    const unknown = await h.handle(
      callback(ghost, callbackPayload(ghost, { event_type: 'mission.accepted' })),
    );
    expect(unknown).toMatchObject({
      outcome: 'rejected',
      reasons: [{ code: 'MISSION_NOT_FOUND' }],
      recorded: { stream: REJECTIONS_STREAM },
    });
    const d = await running(h);
    const foreign = await h.handle(
      callback(d, callbackPayload(d, { event_type: 'mission.progress' }), STRANGER),
    );
    expect(foreign).toMatchObject({
      outcome: 'rejected',
      reasons: [{ code: 'MISSION_NOT_FOUND' }],
      recorded: { stream: REJECTIONS_STREAM },
    });
    const rejections = await store.readStream(REJECTIONS_STREAM);
    expect(rejections.map((e) => (e.data.reasons as { code: string }[])[0]!.code)).toEqual([
      'MISSION_NOT_FOUND',
      'FORBIDDEN_INSTANCE',
    ]);
    expect((await store.readStream(missionStream(d.mission_id))).length).toBe(2);
  });

  it('re-reads and decides again when another process moved the stream', async () => {
    const a = handler();
    const b = handler();
    const d = await running(a);
    // b appends behind a's cached fold.
    const fromB = callbackPayload(d, { event_type: 'mission.progress' });
    expect((await b.handle(callback(d, fromB))).outcome).toBe('accepted');
    const fromA = callbackPayload(d, { event_type: 'mission.progress' });
    const outcome = await a.handle(callback(d, fromA));
    expect(outcome).toMatchObject({ outcome: 'accepted', revision: 3 });
    // The same callback through a, which never saw b's record of it: found on the re-read.
    const retry = await a.handle(callback(d, fromB));
    expect(retry).toMatchObject({ outcome: 'duplicate', revision: 2 });
    const stream = await store.readStream(missionStream(d.mission_id));
    expect(stream.map((e) => e.revision)).toEqual([0, 1, 2, 3]);
  });

  it('gives up after a bounded number of conflicts', async () => {
    let appends = 0;
    const conflicting: EventStore = Object.create(store) as EventStore;
    conflicting.append = () => {
      appends += 1;
      return Promise.reject(new LedgerError('EXPECTED_REVISION_CONFLICT'));
    };
    const h = new CommandHandler(missionAggregate, {
      store: conflicting,
      rejections: new RejectionBudget({ perMinute: 10, bytesPerMinute: 1 << 20 }, () => 0),
    });
    await expect(h.handle(dispatch(dispatchPayload()))).rejects.toMatchObject({
      code: 'EXPECTED_REVISION_CONFLICT',
    });
    expect(appends).toBe(25);
  });

  it("refuses a rejection past the sender's budget, recording nothing", async () => {
    const h = handler({ perMinute: 1, bytesPerMinute: 1 << 20 });
    const d = await running(h);
    const bad = () => callback(d, { idempotency_key: `k-${Math.random()}` });
    const first: CommandOutcome = await h.handle(bad());
    expect(first.outcome).toBe('rejected');
    const head = await store.headPosition();
    await expect(h.handle(bad())).rejects.toMatchObject({ code: 'RATE_LIMITED' });
    expect(await store.headPosition()).toBe(head);
  });
});
