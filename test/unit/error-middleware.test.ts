import type { AddressInfo } from 'node:net';
import express from 'express';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { errorMiddleware } from '../../src/http/errors.ts';
import { createLogger } from '../../src/logger.ts';

/**
 * Errors that express, body-parser and http-errors mark as the client's fault carry a 4xx
 * `status` (or `statusCode`); they are answered with that class of status and a stable code,
 * never as 500 INTERNAL.
 */
describe('errorMiddleware', () => {
  let server: ReturnType<express.Express['listen']>;
  let base: string;

  beforeAll(async () => {
    const app = express();
    app.get('/throw', (req) => {
      const { status, statusCode } = req.query as Record<string, string | undefined>;
      throw Object.assign(new Error('library error'), {
        ...(status === undefined ? {} : { status: Number(status) }),
        ...(statusCode === undefined ? {} : { statusCode: Number(statusCode) }),
      });
    });
    app.use(errorMiddleware(createLogger('silent')));
    server = app.listen(0, '127.0.0.1');
    await new Promise((resolve) => server.once('listening', resolve));
    base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });
  afterAll(async () => {
    await new Promise((resolve) => server.close(resolve));
  });

  const answer = async (query: string) => {
    const res = await fetch(`${base}/throw?${query}`);
    return { status: res.status, body: (await res.json()) as { error: Record<string, unknown> } };
  };

  it.each([
    ['status=400', 400, 'BAD_REQUEST', { status: 400 }],
    ['statusCode=400', 400, 'BAD_REQUEST', { status: 400 }],
    ['status=413', 413, 'PAYLOAD_TOO_LARGE', {}],
    ['statusCode=415', 415, 'UNSUPPORTED_MEDIA_TYPE', {}],
    ['status=431', 400, 'BAD_REQUEST', { status: 431 }],
  ])('answers %s with %i %s', async (query, status, code, details) => {
    const res = await answer(query);
    expect(res.status).toBe(status);
    expect(res.body.error).toMatchObject({ code, details });
  });

  it.each(['', 'status=500', 'status=302', 'status=abc'])(
    'answers an error without a 4xx status (%j) as 500 INTERNAL',
    async (query) => {
      const res = await answer(query);
      expect(res.status).toBe(500);
      expect(res.body.error).toEqual({ code: 'INTERNAL', message: 'Internal error.', details: {} });
    },
  );
});
