import { generateKeyPairSync } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { replayDecisions } from '../../src/cli/replay-decisions.ts';
import { signInput } from '../../src/policy/signature.ts';
import { TOKENS, useStoreAndApp } from '../support/http-app.ts';
import { callbackPayload, dispatchPayload } from '../support/mission-fixtures.ts';
import { adminQuery, freshSchemaName, storeUrl } from '../support/postgres.ts';
import { seedMissions } from '../support/seeded-run.ts';

/*
 * `ledger replay --verify` decides every recorded input again, from the log alone, under the
 * profile, environment, override and keys recorded with it, and names any decision the log does
 * not reproduce: an edited outcome, reasons or input.
 */

const operator = { token: TOKENS.operator };

describe('deciding the log again (PostgreSQL)', () => {
  const schema = freshSchemaName('redecide');
  const suite = useStoreAndApp(() => storeUrl(schema));

  it('reproduces every decision of a seeded run, with a switch of policy on the way', async () => {
    await seedMissions(suite.app, 20);
    const strict = await suite.app.call('POST', '/v1/policy/activations', {
      ...operator,
      body: { profile_id: 'control-plane-strict-v1' },
    });
    expect(strict.status).toBe(201);
    await seedMissions(suite.app, 10);
    const report = await replayDecisions(suite.store);
    expect(report.differences).toEqual([]);
    expect(report.checked).toBeGreaterThan(100);
  });

  it('names the position of an edited outcome, edited reasons and an edited input', async () => {
    const events = await suite.store.readAll({ limit: 100_000 });
    const rejected = events.find((e) => e.type === 'mission.callback_rejected')!;
    const accepted = events.find((e) => e.type === 'mission.progress')!;
    const table = `"${schema}".events`;
    // An accepted input rewritten as if the policy had rejected it, and a rejection's reasons.
    await adminQuery(
      `update ${table} set data = jsonb_set(data::jsonb, '{policy,outcome}', '"rejected"')::json where position = $1`,
      [accepted.position],
    );
    await adminQuery(
      `update ${table} set data = jsonb_set(data::jsonb, '{reasons,0,code}', '"TRACE_MISMATCH"')::json where position = $1`,
      [rejected.position],
    );
    const report = await replayDecisions(suite.store);
    expect(report.differences.map((d) => d.position).sort((a, b) => a - b)).toEqual(
      [accepted.position, rejected.position].sort((a, b) => a - b),
    );
    expect(report.differing).toBe(2);
  });
});

describe('deciding signed inputs again (PostgreSQL, strict profile in production)', () => {
  const schema = freshSchemaName('redecide_signed');
  const suite = useStoreAndApp(() => storeUrl(schema), {
    policyProfile: 'control-plane-strict-v1',
    policyEnvironment: 'production',
  });

  it('reproduces signature verdicts under the key ring recorded with each, also after a revocation', async () => {
    const factory = generateKeyPairSync('ed25519');
    const ops = generateKeyPairSync('ed25519');
    const register = (key_id: string, owner: string, x: string) =>
      suite.app.call('POST', '/v1/keys', {
        ...operator,
        body: { key_id, owner, public_key: x, not_before: '2020-01-01T00:00:00Z' },
      });
    await register('f7', 'ua-factory-07', factory.publicKey.export({ format: 'jwk' }).x!);
    await register('ops', 'ops-alice', ops.publicKey.export({ format: 'jwk' }).x!);
    const now = new Date().toISOString();
    const hour = 3_600_000;
    const dispatch = dispatchPayload({
      created_at: now,
      autonomy_window: {
        start_at: new Date(Date.now() - hour).toISOString(),
        end_at: new Date(Date.now() + hour).toISOString(),
      },
    });
    const sent = await suite.app.call('POST', '/v1/missions', {
      ...operator,
      body: dispatch,
      headers: {
        'ledger-signature': signInput(dispatch, { key_id: 'ops', privateKey: ops.privateKey }),
      },
    });
    expect(sent.status).toBe(201);
    const path = `/v1/missions/${dispatch.mission_id}/events`;
    const signedCallback = (type: 'mission.accepted' | 'mission.progress') => {
      const body = callbackPayload(dispatch, {
        event_type: type,
        overrides: { emitted_at: new Date().toISOString() },
      });
      return {
        token: TOKENS.factory,
        body,
        headers: {
          'ledger-signature': signInput(body, { key_id: 'f7', privateKey: factory.privateKey }),
        },
      };
    };
    expect((await suite.app.call('POST', path, signedCallback('mission.accepted'))).status).toBe(
      201,
    );
    await suite.app.call('POST', '/v1/keys/f7/revoke', {
      ...operator,
      body: { reason: 'rotated' },
    });
    const late = await suite.app.call('POST', path, signedCallback('mission.progress'));
    expect(late.status).toBe(401);
    expect(late.body).toMatchObject({ error: { code: 'KEY_REVOKED' } });

    const report = await replayDecisions(suite.store);
    expect(report.differences).toEqual([]);
    expect(report.checked).toBe(3);
  });
});
