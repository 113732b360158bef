import { brotliCompressSync, deflateSync, gzipSync } from 'node:zlib';
import { describe, expect, it } from 'vitest';
import {
  TOKENS,
  type ApiBody,
  type CallOptions,
  type CallResult,
  useStoreAndApp,
} from '../support/http-app.ts';
import { dispatchPayload, logEvents, logHead, newMissionId } from '../support/mission-fixtures.ts';
import { freshSchemaName, storeUrl } from '../support/postgres.ts';

/**
 * The HTTP edge: what the request target, the headers and the body bytes must be before any
 * handler runs. Every refusal here is a 4xx with a stable code, and the log does not move.
 */
describe.each([
  ['PGlite', () => 'pglite:memory'],
  ['PostgreSQL', () => storeUrl(freshSchemaName('edge'))],
])('HTTP edge on %s', (_name, url) => {
  const on = useStoreAndApp(url);

  /** Sends one request and asserts its status and code, and that nothing was appended. */
  async function refused(
    method: string,
    path: string,
    options: CallOptions,
    status: number,
    code: string,
  ): Promise<CallResult<ApiBody>> {
    const head = await logHead(on.app);
    const res = await on.app.call(method, path, options);
    expect(res.status, JSON.stringify(res.body)).toBe(status);
    expect(res.body.error?.code).toBe(code);
    expect(await logHead(on.app)).toBe(head);
    return res;
  }

  const operator = TOKENS.operator;
  const json = (extra: Record<string, string> = {}) => ({
    'content-type': 'application/json',
    ...extra,
  });
  const dispatchBytes = (overrides: Record<string, unknown> = {}) =>
    Buffer.from(JSON.stringify(dispatchPayload(overrides)));

  describe('request target', () => {
    it.each([
      ['a truncated escape', '/v1/missions/%E0%A4%A'],
      ['a non-hex escape', '/v1/missions/%ZZ'],
      ['an escape that is not UTF-8', '/v1/missions/%FF'],
    ])('refuses %s in a path id: 400 INVALID_ARGUMENT', async (_case, path) => {
      const res = await refused('GET', path, { token: operator }, 400, 'INVALID_ARGUMENT');
      expect(res.body.error?.message).toMatch(/path .*percent-encoded UTF-8/);
    });

    it('refuses an undecodable path id on a write route', async () => {
      const callback = { mission_id: 'x', summary: 'y' };
      await refused(
        'POST',
        '/v1/missions/%E0%A4%A/events',
        { token: TOKENS.factory, body: callback },
        400,
        'INVALID_ARGUMENT',
      );
    });

    it('refuses %00 in a path id: 400 INVALID_ARGUMENT', async () => {
      const res = await refused(
        'POST',
        '/v1/missions/msn_a%00b/events',
        { token: TOKENS.factory, body: { mission_id: 'msn_a\u0000b' } },
        400,
        'INVALID_ARGUMENT',
      );
      expect(res.body.error?.message).toMatch(/NUL/);
      await refused('GET', '/v1/budgets/a%00b', { token: operator }, 400, 'INVALID_ARGUMENT');
    });

    it('refuses %00 or an undecodable escape in a query value, naming the parameter', async () => {
      const nul = await refused(
        'GET',
        '/v1/missions?vp_id=vp%00x',
        { token: operator },
        400,
        'INVALID_ARGUMENT',
      );
      expect(nul.body.error?.details).toEqual({ parameter: 'vp_id' });
      const bad = await refused(
        'GET',
        '/v1/missions?vp_id=%E0%A4',
        { token: operator },
        400,
        'INVALID_ARGUMENT',
      );
      expect(bad.body.error?.details).toEqual({ parameter: 'vp_id' });
    });

    it('still serves well-encoded ids and query values', async () => {
      const res = await on.app.call('GET', '/v1/missions?vp_id=vp.coder%2Eprimary', {
        token: operator,
      });
      expect(res.status, JSON.stringify(res.body)).toBe(200);
      const missing = await on.app.call('GET', `/v1/missions/${encodeURIComponent('msn_ü x')}`, {
        token: operator,
      });
      expect(missing.body.error?.code).toBe('MISSION_NOT_FOUND');
    });
  });

  describe('content encodings', () => {
    it.each([
      ['gzip', gzipSync],
      ['deflate', deflateSync],
      ['br', brotliCompressSync],
    ] as const)('accepts a %s body that decompresses cleanly', async (coding, compress) => {
      const res = await on.app.call('POST', '/v1/missions', {
        token: operator,
        rawBody: compress(dispatchBytes()),
        headers: json({ 'content-encoding': coding }),
      });
      expect(res.status, JSON.stringify(res.body)).toBe(201);
    });

    it.each([
      ['gzip', Buffer.from('this is not gzip data at all')],
      ['gzip', gzipSync(dispatchBytes()).subarray(0, 40)],
      ['deflate', Buffer.from([0x78, 0x9c, 0xff, 0xff, 0xff, 0x00])],
      ['br', Buffer.from('definitely not brotli \u00ff\u00fe')],
      ['br', brotliCompressSync(dispatchBytes()).subarray(0, 30)],
    ])(
      'refuses a corrupt or truncated %s body: 400 MALFORMED_CONTENT_ENCODING',
      async (coding, bytes) => {
        const res = await refused(
          'POST',
          '/v1/missions',
          { token: operator, rawBody: bytes, headers: json({ 'content-encoding': coding }) },
          400,
          'MALFORMED_CONTENT_ENCODING',
        );
        expect(res.body.error?.details).toEqual({ content_encoding: coding });
      },
    );

    it.each(['zstd', 'compress', 'gzip, gzip'])(
      'refuses Content-Encoding %s: 415 naming it',
      async (coding) => {
        const res = await refused(
          'POST',
          '/v1/missions',
          {
            token: operator,
            rawBody: dispatchBytes(),
            headers: json({ 'content-encoding': coding }),
          },
          415,
          'UNSUPPORTED_MEDIA_TYPE',
        );
        expect(res.body.error?.details).toEqual({ content_encoding: coding });
      },
    );
  });

  describe('charsets and bytes', () => {
    it.each([
      'application/json',
      'application/json; charset=utf-8',
      'application/json;charset=UTF-8',
    ])('accepts %s', async (contentType) => {
      const res = await on.app.call('POST', '/v1/missions', {
        token: operator,
        rawBody: dispatchBytes(),
        headers: { 'content-type': contentType },
      });
      expect(res.status, JSON.stringify(res.body)).toBe(201);
    });

    it.each(['utf-7', 'UTF-16', 'iso-8859-1', 'utf8'])(
      'refuses charset=%s: 415 naming the charset',
      async (charset) => {
        // UTF-7 would decode `+ADw-script+AD4-` to `<script>`.
        const res = await refused(
          'POST',
          '/v1/missions',
          {
            token: operator,
            rawBody: dispatchBytes({ objective: '+ADw-script+AD4-alert(1)+ADw-/script+AD4-' }),
            headers: { 'content-type': `application/json; charset=${charset}` },
          },
          415,
          'UNSUPPORTED_MEDIA_TYPE',
        );
        expect(res.body.error?.details).toEqual({ charset });
        expect(res.body.error?.message).toContain(charset);
      },
    );

    it('refuses invalid UTF-8 instead of storing U+FFFD: 400 MALFORMED_UTF8', async () => {
      const text = JSON.stringify(dispatchPayload({ objective: 'caf\u00e9 OBJECTIVE' }));
      const [before, after] = text.split('\u00e9') as [string, string];
      // A lone continuation byte, then a truncated three-byte sequence: neither decodes.
      for (const bad of [[0xe9], [0xe2, 0x82]]) {
        const bytes = Buffer.concat([Buffer.from(before), Buffer.from(bad), Buffer.from(after)]);
        await refused(
          'POST',
          '/v1/missions',
          { token: operator, rawBody: bytes, headers: json() },
          400,
          'MALFORMED_UTF8',
        );
      }
    });

    it('refuses invalid UTF-8 inside a gzip body too', async () => {
      const bytes = Buffer.concat([
        Buffer.from('{"mission_id":"'),
        Buffer.from([0xff]),
        Buffer.from('"}'),
      ]);
      await refused(
        'POST',
        '/v1/missions',
        {
          token: operator,
          rawBody: gzipSync(bytes),
          headers: json({ 'content-encoding': 'gzip' }),
        },
        400,
        'MALFORMED_UTF8',
      );
    });
  });

  describe('empty bodies', () => {
    it.each([
      ['empty', ''],
      ['blank', ' \n\t\r '],
    ])('refuses an %s dispatch body: 400 BODY_EMPTY', async (_case, body) => {
      await refused(
        'POST',
        '/v1/missions',
        { token: operator, rawBody: body, headers: json() },
        400,
        'BODY_EMPTY',
      );
    });

    it('refuses an empty cancel body instead of reading it as {}', async () => {
      const d = dispatchPayload();
      expect((await on.app.call('POST', '/v1/missions', { token: operator, body: d })).status).toBe(
        201,
      );
      await refused(
        'POST',
        `/v1/missions/${d.mission_id}/cancel`,
        { token: operator, rawBody: '', headers: json({ 'idempotency-key': 'cancel-empty' }) },
        400,
        'BODY_EMPTY',
      );
    });

    it('refuses a body that is only a UTF-8 byte order mark', async () => {
      await refused(
        'POST',
        '/v1/missions',
        { token: operator, rawBody: Buffer.from([0xef, 0xbb, 0xbf]), headers: json() },
        400,
        'BODY_EMPTY',
      );
    });
  });

  describe('callback status_url', () => {
    it.each([
      'http://localhost:8080/cb',
      'http://10.0.0.5/cb',
      'https://[::1]/cb',
      'http://factory-a/cb',
    ])('accepts a dispatch calling back to %s', async (statusUrl) => {
      const d = dispatchPayload();
      d.callback = { ...(d.callback as object), status_url: statusUrl };
      const res = await on.app.call('POST', '/v1/missions', { token: operator, body: d });
      expect(res.status, JSON.stringify(res.body)).toBe(201);
    });

    it('refuses credentials in status_url with a reason naming the field', async () => {
      const missionId = newMissionId();
      const d = dispatchPayload({ mission_id: missionId });
      d.callback = { ...(d.callback as object), status_url: 'http://user:secret@host/cb' };
      const head = await logHead(on.app);
      const res = await on.app.call('POST', '/v1/missions', { token: operator, body: d });
      expect(res.status, JSON.stringify(res.body)).toBe(422);
      expect(res.body.error?.code).toBe('SCHEMA_INVALID');
      const reason = res.body.error?.details.reasons?.[0];
      expect(reason?.code).toBe('SCHEMA_INVALID');
      expect(reason?.message).toMatch(/callback\.status_url: must not carry credentials/);
      // The refusal is itself recorded; no dispatch is.
      const recorded = await logEvents(on.app, head);
      expect(recorded.map((e) => e.type)).toEqual(['mission.dispatch_rejected']);
    });
  });
});
