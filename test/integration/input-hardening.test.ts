import { describe, expect, it } from 'vitest';
import { missionStream } from '../../src/domain/mission/index.ts';
import { REJECTIONS_STREAM } from '../../schemas/streams.ts';
import type { StoredEvent } from '../../src/store/port.ts';
import { TARGET_INSTANCE, TOKENS, startApp, useStoreAndApp } from '../support/http-app.ts';
import {
  callbackPayload,
  dispatchPayload,
  logEvents,
  logHead,
  missionEvents,
  type Dispatch,
} from '../support/mission-fixtures.ts';
import { freshSchemaName, storeUrl } from '../support/postgres.ts';

type Json = Record<string, unknown>;

/*
 * What the contract allows in strings, what the ledger records of inputs that break it, the
 * rejection budget per sender, a dispatch as one append, and keys recorded by earlier ledgers.
 */
describe.each([
  ['PGlite', () => 'pglite:memory'],
  ['PostgreSQL', () => storeUrl(freshSchemaName('hard'))],
])('input hardening over HTTP on %s', (_name, url) => {
  const on = useStoreAndApp(url);

  async function dispatched(): Promise<Dispatch> {
    const d = dispatchPayload();
    const res = await on.app.call('POST', '/v1/missions', { token: TOKENS.operator, body: d });
    expect(res.status, JSON.stringify(res.body)).toBe(201);
    return d;
  }

  /** POSTs `text` as it is (no re-serialisation), so lone surrogates and 1e309 reach the server. */
  const postRaw = (path: string, text: string, token: string) =>
    on.app.call('POST', path, {
      token,
      rawBody: text,
      headers: { 'content-type': 'application/json' },
    });

  /** The one event a request appended, which must be in `stream`. */
  async function onlyAppended(head: number, stream: string): Promise<StoredEvent> {
    const appended = await logEvents(on.app, head);
    expect(appended.map((e) => e.stream)).toEqual([stream]);
    return appended[0]!;
  }

  describe('strings are text', () => {
    it('records a callback whose summary holds a NUL as SCHEMA_INVALID, naming the place', async () => {
      const d = await dispatched();
      const head = await logHead(on.app);
      const payload = callbackPayload(d, {
        event_type: 'mission.accepted',
        overrides: { summary: 'ok\u0000then', artifact_refs: ['a\u0007'] },
      });
      const res = await on.app.call('POST', `/v1/missions/${d.mission_id}/events`, {
        token: TOKENS.factory,
        body: payload,
      });
      expect(res.status).toBe(422);
      expect(res.body.error?.code).toBe('SCHEMA_INVALID');
      expect(res.body.error?.message).toContain('summary: holds the control character U+0000');
      expect(res.body.error?.message).toContain(
        'artifact_refs[0]: holds the control character U+0007',
      );
      const event = await onlyAppended(head, missionStream(d.mission_id));
      expect(event.type).toBe('mission.callback_rejected');
      // Recorded as received, NUL included.
      expect((event.data as { input: Json }).input.summary).toBe('ok\u0000then');
      expect(
        (await on.app.call('GET', `/v1/missions/${d.mission_id}`, { token: TOKENS.operator })).body,
      ).toMatchObject({ status: 'queued', counts: { accepted: 0, rejected: 1 } });
    });

    it('refuses C0 controls in a dispatch and in a cancel reason; tab, CR and LF are text', async () => {
      const bad = dispatchPayload({ objective: 'ship\u001b[31m it' });
      const refused = await on.app.call('POST', '/v1/missions', {
        token: TOKENS.operator,
        body: bad,
      });
      expect(refused.status).toBe(422);
      expect(refused.body.error?.message).toContain(
        'objective: holds the control character U+001B',
      );

      const good = dispatchPayload({ objective: 'line one\r\n\tline two' });
      const accepted = await on.app.call('POST', '/v1/missions', {
        token: TOKENS.operator,
        body: good,
      });
      expect(accepted.status, JSON.stringify(accepted.body)).toBe(201);

      const cancel = await on.app.call('POST', `/v1/missions/${good.mission_id}/cancel`, {
        token: TOKENS.operator,
        body: { reason: 'stop\u0000now' },
      });
      expect(cancel.status).toBe(422);
      expect(cancel.body.error?.code).toBe('SCHEMA_INVALID');
      const [, event] = await missionEvents(on.app, good.mission_id);
      expect(event).toMatchObject({
        type: 'mission.cancel_rejected',
        data: { reason: 'stop\u0000now' },
      });
    });

    it('records a lone surrogate and 1e309 with the places replaced, instead of refusing unrecorded', async () => {
      const d = await dispatched();
      const payload = callbackPayload(d, { event_type: 'mission.accepted' });
      const text = JSON.stringify(payload)
        .replace(/"summary":"[^"]*"/, '"summary":"bad \\ud800 text"')
        .replace(/"llm_calls":0/, '"llm_calls":1e309');
      const head = await logHead(on.app);
      const res = await postRaw(`/v1/missions/${d.mission_id}/events`, text, TOKENS.factory);
      expect(res.status, JSON.stringify(res.body)).toBe(422);
      expect(res.body.error?.code).toBe('SCHEMA_INVALID');
      expect(res.body.error?.message).toContain('summary: holds a lone surrogate');
      expect(res.body.error?.message).toContain(
        'usage.llm_calls: is a number outside the range of JSON numbers',
      );
      const event = await onlyAppended(head, missionStream(d.mission_id));
      const input = (event.data as { input: Json }).input;
      expect(input.summary).toBe('bad \ufffd text');
      expect((input.usage as Json).llm_calls).toBeNull();
      // Its key binds it: the same bytes again are the same rejection, nothing appended.
      const retry = await postRaw(`/v1/missions/${d.mission_id}/events`, text, TOKENS.factory);
      expect(retry.status).toBe(422);
      expect(retry.body.error?.details.duplicate).toBe(true);
      expect(await logHead(on.app)).toBe(event.position);
    });

    it('records a dispatch refused for credentials in its callback URL without the secret', async () => {
      const d = dispatchPayload();
      (d.callback as Json).status_url = 'https://cp:hunter2-secret@factory-a/cb';
      const head = await logHead(on.app);
      const res = await on.app.call('POST', '/v1/missions', { token: TOKENS.operator, body: d });
      expect(res.status).toBe(422);
      expect(res.body.error?.message).toContain('callback.status_url');
      const event = await onlyAppended(head, missionStream(d.mission_id));
      expect(JSON.stringify(event)).not.toContain('hunter2-secret');
      expect((event.data as { input: { callback: Json } }).input.callback.status_url).toBe(
        'https://***@factory-a/cb',
      );
    });

    it('records a cancel whose Idempotency-Key is over 256 characters, under no key', async () => {
      const d = await dispatched();
      const head = await logHead(on.app);
      const res = await on.app.call('POST', `/v1/missions/${d.mission_id}/cancel`, {
        token: TOKENS.operator,
        body: { reason: 'stop' },
        headers: { 'Idempotency-Key': 'k'.repeat(300) },
      });
      expect(res.status).toBe(422);
      expect(res.body.error?.message).toContain('Idempotency-Key');
      const event = await onlyAppended(head, missionStream(d.mission_id));
      expect(event.type).toBe('mission.cancel_rejected');
      expect(event.metadata.idempotency_key).toBeUndefined();
    });
  });

  describe('rejection budget', () => {
    it("answers 429 with Retry-After past a sender's budget, records nothing, and spares others", async () => {
      const limited = await startApp({
        store: on.store,
        rejectionLimits: { perMinute: 3, bytesPerMinute: 1024 * 1024 },
      });
      try {
        const d = await dispatched();
        const bad = () =>
          callbackPayload(d, { event_type: 'mission.progress' /* illegal from queued */ });
        const post = (body: Json, token: string = TOKENS.factory) =>
          limited.call('POST', `/v1/missions/${d.mission_id}/events`, { token, body });
        for (let i = 0; i < 3; i += 1) expect((await post(bad())).status).toBe(409);
        const head = await logHead(on.app);
        const refused = await post(bad());
        expect(refused.status).toBe(429);
        expect(refused.body.error?.code).toBe('RATE_LIMITED');
        expect(Number(refused.headers.get('retry-after'))).toBeGreaterThanOrEqual(1);
        expect(refused.body.error?.details.retry_after_seconds).toBe(
          Number(refused.headers.get('retry-after')),
        );
        expect(await logHead(on.app)).toBe(head);
        // Accepted inputs are not charged; another sender has its own budget.
        expect((await post(callbackPayload(d, { event_type: 'mission.accepted' }))).status).toBe(
          201,
        );
        expect((await post(bad(), TOKENS.otherFactory)).status).toBe(404);
      } finally {
        await limited.close();
      }
    });

    it('bounds the bytes a stranger can make the ledger store', async () => {
      const limited = await startApp({
        store: on.store,
        rejectionLimits: { perMinute: 1000, bytesPerMinute: 64 * 1024 },
      });
      try {
        const d = await dispatched();
        const big = { idempotency_key: 'x', summary: 'y'.repeat(20 * 1024) };
        const statuses: number[] = [];
        for (let i = 0; i < 6; i += 1) {
          const res = await limited.call('POST', `/v1/missions/${d.mission_id}/events`, {
            token: TOKENS.otherFactory,
            body: big,
          });
          statuses.push(res.status);
        }
        expect(statuses.slice(0, 3)).toEqual([404, 404, 404]);
        expect(statuses.slice(3)).toEqual([429, 429, 429]);
        // None of it in the owner's stream.
        expect((await missionEvents(on.app, d.mission_id)).map((e) => e.type)).toEqual([
          'mission.dispatched',
        ]);
        const head = await logHead(on.app);
        const tail = await logEvents(on.app, head - 3);
        expect(tail.every((e) => e.stream === REJECTIONS_STREAM)).toBe(true);
      } finally {
        await limited.close();
      }
    });
  });

  describe('dispatch', () => {
    it('is one append: the VP session registry follows from mission.dispatched', async () => {
      const head = await logHead(on.app);
      const d = dispatchPayload({ vp_session_id: undefined });
      const res = await on.app.call('POST', '/v1/missions', { token: TOKENS.operator, body: d });
      expect(res.status).toBe(201);
      const appended = await logEvents(on.app, head);
      expect(appended.map((e) => e.type)).toEqual(['mission.dispatched']);
      const session = await on.app.call(
        'GET',
        `/v1/vp-sessions/${d.vp_id}/${res.body.vp_session_id}?min_position=${res.body.position}`,
        { token: TOKENS.operator },
      );
      expect(session.status).toBe(200);
      expect(session.body).toMatchObject({
        missions: [d.mission_id],
        vp_runtime_id: d.vp_runtime_id,
      });
    });
  });

  describe('logs written before keys were scoped', () => {
    it('answers a retry of an input recorded under its raw key as a duplicate', async () => {
      const d = await dispatched();
      const payload = callbackPayload(d, { event_type: 'mission.accepted' });
      // What an earlier ledger appended: the client's key as sent, the sender in metadata.actor.
      const legacy = await on.store.append(
        missionStream(d.mission_id),
        [
          {
            type: 'mission.accepted',
            data: {
              callback: payload,
              received_at: new Date().toISOString(),
              principal: { role: 'factory', id: TARGET_INSTANCE },
            },
            metadata: {
              idempotency_key: payload.idempotency_key as string,
              actor: `factory:${TARGET_INSTANCE}`,
              trace_id: d.trace_id,
            },
          },
        ],
        { expectedRevision: 0 },
      );
      const retry = await on.app.call('POST', `/v1/missions/${d.mission_id}/events`, {
        token: TOKENS.factory,
        body: payload,
      });
      expect(retry.status, JSON.stringify(retry.body)).toBe(200);
      expect(retry.body).toMatchObject({ duplicate: true, position: legacy.positions[0] });
      expect(await logHead(on.app)).toBe(legacy.positions[0]);
    });
  });
});
