import express, { type Request, type Response, type Router } from 'express';
import { keyId as keyIdSchema } from '../../schemas/index.ts';
import type { RegisteredKey } from '../domain/signing-keys/index.ts';
import { LedgerError } from '../errors.ts';
import type { CommandOutcome } from '../ledger/command-handler.ts';
import type { KeyRegistry } from '../ledger/key-registry.ts';
import type { Logger } from '../logger.ts';
import { principalOf, requireRole } from './auth.ts';
import { jsonBody } from './body.ts';
import { sendError } from './errors.ts';
import { invalidParameter, limitParam, queryParams } from './query-params.ts';
import type { KeyCommandResult, SigningKeyList, SigningKeyView } from './response-schemas/index.ts';

export interface KeyRouteDeps {
  keys: KeyRegistry;
  logger: Logger;
  bodyLimit: number;
  now: () => Date;
}

/** A key as the API shows it, with its status at `now`. */
export function keyView(key: RegisteredKey, now: Date): SigningKeyView {
  const at = now.getTime();
  const status =
    key.revoked_at !== null && Date.parse(key.revoked_at) <= at
      ? 'revoked'
      : key.not_after !== null && Date.parse(key.not_after) <= at
        ? 'expired'
        : Date.parse(key.not_before) > at
          ? 'pending'
          : 'active';
  return {
    key_id: key.key_id,
    owner: key.owner,
    public_key: key.public_key,
    not_before: key.not_before,
    not_after: key.not_after,
    revoked_at: key.revoked_at,
    revocation_reason: key.revocation_reason,
    registered_at: key.registered_at,
    status,
    revision: key.registered_revision,
  };
}

const keyNotFound = (keyId: string) =>
  new LedgerError('NOT_FOUND', `No signing key ${JSON.stringify(keyId)}.`);

/**
 * The signing key registry: operators register and revoke keys (recorded in `ledger-keys`, like
 * any command, rejections included); operators and auditors read them. Factories have no access.
 */
export function keyRoutes({ keys, logger, bodyLimit, now }: KeyRouteDeps): Router {
  const router = express.Router();
  const body = jsonBody(bodyLimit);

  /** 201 when recorded, 200 for a retry, the first reason's status for a recorded rejection. */
  const answer = (res: Response, outcome: CommandOutcome, keyId: string) => {
    if (outcome.outcome === 'rejected') {
      const reasons = outcome.reasons.map(({ code, message }) => ({ code, message }));
      const issues = outcome.reasons.find((r) => r.code === 'SCHEMA_INVALID')?.issues;
      logger.warn({ key_id: keyId, reasons, recorded: outcome.recorded }, 'key change rejected');
      const first = reasons[0] ?? { code: 'SCHEMA_INVALID' as const, message: 'Rejected.' };
      sendError(
        res,
        new LedgerError(first.code, first.message, {
          reasons,
          ...(issues === undefined ? {} : { issues }),
          recorded: { revision: outcome.recorded.revision, position: outcome.recorded.position },
          ...(outcome.duplicate ? { duplicate: true } : {}),
        }),
      );
      return;
    }
    const duplicate = outcome.outcome === 'duplicate';
    const result: KeyCommandResult = {
      key_id: typeof outcome.answer.key_id === 'string' ? outcome.answer.key_id : keyId,
      revision: outcome.revision,
      position: outcome.position,
      duplicate,
    };
    logger.info(result, duplicate ? 'key change replayed' : 'key changed');
    res.status(duplicate ? 200 : 201).json(result);
  };

  const bodyKeyId = (req: Request): string => {
    const id = (req.body as { key_id?: unknown } | null)?.key_id;
    return typeof id === 'string' ? id.slice(0, 128) : '';
  };

  router.post('/keys', requireRole('operator'), ...body, async (req: Request, res: Response) => {
    queryParams(req, []);
    const outcome = await keys.register(req.body, req.get('Idempotency-Key'), principalOf(req));
    answer(res, outcome, bodyKeyId(req));
  });

  router.post(
    '/keys/:key_id/revoke',
    requireRole('operator'),
    ...body,
    async (req: Request, res: Response) => {
      queryParams(req, []);
      const keyId = req.params.key_id as string;
      const outcome = await keys.revoke(
        keyId,
        req.body,
        req.get('Idempotency-Key'),
        principalOf(req),
      );
      answer(res, outcome, keyId);
    },
  );

  router.get('/keys', requireRole('operator', 'auditor'), async (req, res) => {
    const query = queryParams(req, ['cursor', 'limit']);
    const limit = limitParam(query);
    const cursor = query.cursor;
    if (cursor !== undefined && !keyIdSchema.safeParse(cursor).success)
      throw invalidParameter('cursor', 'cursor must be the next_cursor of a page of keys.', {
        value: cursor,
      });
    const page = await keys.list(cursor, limit);
    const at = now();
    res.json({
      keys: page.keys.map((key) => keyView(key, at)),
      next_cursor: page.next_cursor,
    } satisfies SigningKeyList);
  });

  router.get('/keys/:key_id', requireRole('operator', 'auditor'), async (req, res) => {
    queryParams(req, []);
    const keyId = req.params.key_id as string;
    const key = await keys.get(keyId);
    if (key === undefined) throw keyNotFound(keyId);
    res.json(keyView(key, now()));
  });

  return router;
}
