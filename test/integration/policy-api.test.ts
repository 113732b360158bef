import { generateKeyPairSync } from 'node:crypto';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { eventDataSchema, POLICY_STREAM } from '../../schemas/index.ts';
import { loadPolicyConfig } from '../../src/cli/policy-config.ts';
import { loadConfig } from '../../src/config.ts';
import { ruleIds } from '../../src/policy/rule-ids.ts';
import { signInput } from '../../src/policy/signature.ts';
import { shippedProfiles } from '../../src/policy/shipped-profiles.ts';
import { TOKENS, useStoreAndApp } from '../support/http-app.ts';
import { callbackPayload, dispatchPayload, type Dispatch } from '../support/mission-fixtures.ts';
import { freshSchemaName, storeUrl } from '../support/postgres.ts';

/*
 * The policy over HTTP: which profile is in force, an operator's switch recorded and obeyed, and
 * signed inputs end to end under the strict profile in production.
 */

const operator = { token: TOKENS.operator };
const factory = { token: TOKENS.factory };

/** A dispatch, then the factory's mission.accepted, through the API; returns the dispatch. */
async function running(app: ReturnType<typeof useStoreAndApp>['app']): Promise<Dispatch> {
  const dispatch = dispatchPayload();
  expect((await app.call('POST', '/v1/missions', { ...operator, body: dispatch })).status).toBe(
    201,
  );
  return dispatch;
}

describe.each([
  ['PGlite', () => 'pglite:memory'],
  ['PostgreSQL', () => storeUrl(freshSchemaName('policy'))],
])('the policy over HTTP on %s', (_name, url) => {
  const suite = useStoreAndApp(url);

  it('shows the profile in force, recorded at start as policy.activated', async () => {
    const res = await suite.app.call('GET', '/v1/policy', operator);
    expect(res.status).toBe(200);
    expect(res.body).toMatchObject({
      profile: { id: 'development' },
      environment: 'development',
      override: null,
      source: 'start',
      principal: null,
    });
    const rules = (res.body as { rules: { rule: string; effective: string }[] }).rules;
    expect(rules.map((r) => r.rule)).toEqual([...ruleIds]);
    expect(rules.find((r) => r.rule === 'signature')!.effective).toBe('off');
    const recorded = await suite.store.readStream(POLICY_STREAM);
    expect(recorded[0]).toMatchObject({ type: 'policy.activated', data: { source: 'start' } });
    expect(
      eventDataSchema(POLICY_STREAM, 'policy.activated')!.safeParse(recorded[0]!.data).success,
    ).toBe(true);
    expect((await suite.app.call('GET', '/v1/policy', factory)).status).toBe(403);
  });

  it("an operator's switch is recorded, answered, and decides the next inputs", async () => {
    const dispatch = await running(suite.app);
    const overBudget = (key: string) =>
      callbackPayload(dispatch, {
        event_type: 'mission.accepted',
        usage: { runtime_minutes: 1, llm_calls: 999, estimated_cost_usd: 1 },
        overrides: { idempotency_key: key },
      });
    // Development: the budget rule warns; the answer says so.
    const warned = await suite.app.call('POST', `/v1/missions/${dispatch.mission_id}/events`, {
      ...factory,
      body: overBudget('over-1'),
    });
    expect(warned.status).toBe(201);
    // The fixture's autonomy window lies in 2025: that rule warns too.
    expect((warned.body as { warnings: { code: string }[] }).warnings.map((w) => w.code)).toEqual([
      'BUDGET_EXCEEDED',
      'OUTSIDE_AUTONOMY_WINDOW',
    ]);

    // A profile document enforcing the budget, put in force by an operator.
    const strictBudget = structuredClone(shippedProfiles.development) as unknown as {
      id: string;
      rules: Record<string, Record<string, string>>;
    };
    strictBudget.id = 'budget-enforced';
    strictBudget.rules.budget = {
      development: 'enforce',
      staging: 'enforce',
      production: 'enforce',
    };
    const switched = await suite.app.call('POST', '/v1/policy/activations', {
      ...operator,
      body: { profile: strictBudget },
    });
    expect(switched.status).toBe(201);
    expect(switched.body).toMatchObject({ profile: { id: 'budget-enforced' }, source: 'operator' });
    const activations = await suite.store.readStream(POLICY_STREAM);
    expect(activations.at(-1)).toMatchObject({
      type: 'policy.activated',
      data: {
        source: 'operator',
        principal: { role: 'operator' },
        profile: { id: 'budget-enforced' },
      },
    });

    const progress = callbackPayload(dispatch, {
      event_type: 'mission.progress',
      usage: { runtime_minutes: 2, llm_calls: 999, estimated_cost_usd: 1 },
      overrides: { idempotency_key: 'over-2' },
    });
    const rejected = await suite.app.call('POST', `/v1/missions/${dispatch.mission_id}/events`, {
      ...factory,
      body: progress,
    });
    expect(rejected.status).toBe(422);
    expect(rejected.body).toMatchObject({ error: { code: 'BUDGET_EXCEEDED' } });
    const stream = await suite.store.readStream(`mission-${dispatch.mission_id}`);
    expect(stream.at(-1)).toMatchObject({
      type: 'mission.callback_rejected',
      data: {
        policy: {
          profile: {
            id: 'budget-enforced',
            digest: (switched.body as { profile: { digest: string } }).profile.digest,
          },
          outcome: 'rejected',
          findings: [
            { rule: 'budget', mode: 'enforce', effect: 'rejected' },
            { rule: 'autonomy_window', mode: 'warn', effect: 'warned' },
          ],
        },
      },
    });

    // The rollback toggle over the API: enforce only warns.
    const rollback = await suite.app.call('POST', '/v1/policy/activations', {
      ...operator,
      body: { profile: strictBudget, override: 'warn' },
    });
    expect(rollback.body).toMatchObject({ override: 'warn' });
    const again = await suite.app.call('POST', `/v1/missions/${dispatch.mission_id}/events`, {
      ...factory,
      body: { ...progress, idempotency_key: 'over-3' },
    });
    expect(again.status).toBe(201);
    expect((again.body as { warnings: { code: string }[] }).warnings.map((w) => w.code)).toEqual([
      'BUDGET_EXCEEDED',
      'OUTSIDE_AUTONOMY_WINDOW',
    ]);

    // Back to the shipped profile.
    const back = await suite.app.call('POST', '/v1/policy/activations', {
      ...operator,
      body: { profile_id: 'development' },
    });
    expect(back.body).toMatchObject({ profile: { id: 'development' }, override: null });
  });

  it('refuses bad activations without recording them, and lets only operators switch', async () => {
    const before = (await suite.store.readStream(POLICY_STREAM)).length;
    const bad = [
      [{}, 422, 'SCHEMA_INVALID'],
      [{ profile_id: 'development', profile: {} }, 422, 'SCHEMA_INVALID'],
      [{ profile_id: 'no-such-profile' }, 404, 'NOT_FOUND'],
      [{ profile: { id: 'x' } }, 422, 'SCHEMA_INVALID'],
    ] as const;
    for (const [body, status, code] of bad) {
      const res = await suite.app.call('POST', '/v1/policy/activations', { ...operator, body });
      expect(
        [res.status, (res.body as { error: { code: string } }).error.code],
        JSON.stringify(body),
      ).toEqual([status, code]);
    }
    const auditor = await suite.app.call('POST', '/v1/policy/activations', {
      token: TOKENS.auditor,
      body: { profile_id: 'development' },
    });
    expect(auditor.status).toBe(403);
    expect(await suite.store.readStream(POLICY_STREAM)).toHaveLength(before);
  });
});

describe('signed inputs end to end: the strict profile in production', () => {
  const suite = useStoreAndApp(() => storeUrl(freshSchemaName('signed')), {
    policyProfile: 'control-plane-strict-v1',
    policyEnvironment: 'production',
  });

  it('refuses an unsigned callback (401 SIGNATURE_MISSING, recorded) and accepts one signed by the factory key', async () => {
    const { privateKey, publicKey } = generateKeyPairSync('ed25519');
    const x = publicKey.export({ format: 'jwk' }).x!;
    // The operator's dispatch must be signed too: by a key of the operator's own.
    const ops = generateKeyPairSync('ed25519');
    const register = (key_id: string, owner: string, public_key: string) =>
      suite.app.call('POST', '/v1/keys', {
        ...operator,
        body: { key_id, owner, public_key, not_before: '2020-01-01T00:00:00Z' },
      });
    expect((await register('factory-07', 'ua-factory-07', x)).status).toBe(201);
    expect(
      (await register('ops', 'ops-alice', ops.publicKey.export({ format: 'jwk' }).x!)).status,
    ).toBe(201);

    const now = new Date().toISOString();
    const hour = 3_600_000;
    const dispatch = dispatchPayload({
      created_at: now,
      autonomy_window: {
        start_at: new Date(Date.now() - hour).toISOString(),
        end_at: new Date(Date.now() + hour).toISOString(),
      },
    });
    const unsignedDispatch = await suite.app.call('POST', '/v1/missions', {
      ...operator,
      body: dispatch,
    });
    expect(unsignedDispatch.status).toBe(401);
    expect(unsignedDispatch.body).toMatchObject({ error: { code: 'SIGNATURE_MISSING' } });
    const signedDispatch = await suite.app.call('POST', '/v1/missions', {
      ...operator,
      body: { ...dispatch, idempotency_key: 'signed-dispatch' },
      headers: {
        'ledger-signature': signInput(
          { ...dispatch, idempotency_key: 'signed-dispatch' },
          { key_id: 'ops', privateKey: ops.privateKey },
        ),
      },
    });
    expect(signedDispatch.status, JSON.stringify(signedDispatch.body)).toBe(201);

    const accepted = callbackPayload(dispatch, {
      event_type: 'mission.accepted',
      overrides: { emitted_at: now },
    });
    const path = `/v1/missions/${dispatch.mission_id}/events`;
    const unsigned = await suite.app.call('POST', path, { ...factory, body: accepted });
    expect(unsigned.status).toBe(401);
    expect(unsigned.body).toMatchObject({ error: { code: 'SIGNATURE_MISSING' } });

    const body = { ...accepted, idempotency_key: 'signed-accepted' };
    const signed = await suite.app.call('POST', path, {
      ...factory,
      body,
      headers: { 'ledger-signature': signInput(body, { key_id: 'factory-07', privateKey }) },
    });
    expect(signed.status, JSON.stringify(signed.body)).toBe(201);
    expect(signed.body).not.toHaveProperty('warnings');
    const stream = await suite.store.readStream(`mission-${dispatch.mission_id}`);
    const last = stream.at(-1)!;
    expect(last.type).toBe('mission.accepted');
    const data = last.data as { signature: string };
    expect(data.signature).toMatch(/^[\w-]+\.\.[\w-]+$/);
    expect(last.data).toMatchObject({
      policy: { profile: { id: 'control-plane-strict-v1' }, outcome: 'accepted', findings: [] },
    });
    // The unsigned attempt is in the log too, with its reason.
    expect(stream.at(-2)).toMatchObject({
      type: 'mission.callback_rejected',
      data: { reasons: [{ code: 'SIGNATURE_MISSING' }] },
    });
  });
});

describe('profile trust at start', () => {
  it('production refuses an unsigned profile file; a shipped profile needs no signature', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'ledger-policy-'));
    try {
      const file = join(dir, 'custom.json');
      await writeFile(file, JSON.stringify({ ...shippedProfiles.development, id: 'custom' }));
      const env = { LEDGER_ENV: 'production', LEDGER_POLICY_PROFILE: file };
      await expect(loadPolicyConfig(loadConfig(env))).rejects.toMatchObject({
        code: 'PROFILE_UNTRUSTED',
      });
      await expect(
        loadPolicyConfig(loadConfig({ ...env, LEDGER_ENV: 'staging' })),
      ).resolves.toMatchObject({ signedBy: null, profile: { id: 'custom' } });
      await expect(
        loadPolicyConfig(loadConfig({ LEDGER_ENV: 'production' })),
      ).resolves.toMatchObject({
        profile: { id: 'control-plane-strict-v1' },
      });
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});
