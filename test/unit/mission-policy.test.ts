import { generateKeyPairSync } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import type { Environment, PolicyMode } from '../../schemas/index.ts';
import type { PolicyInForce } from '../../src/domain/mission/index.ts';
import { activatePolicy } from '../../src/policy/active-policy.ts';
import type { PolicyProfile } from '../../src/policy/profile.ts';
import { ruleIds, type RuleId } from '../../src/policy/rule-ids.ts';
import { signInput, type KeyRing, type SigningKey } from '../../src/policy/signature.ts';
import { shippedProfiles } from '../../src/policy/shipped-profiles.ts';
import { emptyKeyRing, policyInForce } from '../support/policy.ts';
import {
  RECEIVED_AT,
  callbackPayload,
  dispatchPayload,
  given,
  missionIn,
} from './support/mission-given.ts';

/*
 * The decider under a policy: each governance rule's finding, and what each mode does with it.
 */

/** A profile with every rule in `mode` in every environment, and some rules set otherwise. */
function profileWith(
  mode: PolicyMode,
  overrides: Partial<Record<RuleId, PolicyMode>> = {},
  maxInputAgeSeconds = 300,
): PolicyProfile {
  const rules = Object.fromEntries(
    ruleIds.map((rule) => {
      const m = overrides[rule] ?? mode;
      return [rule, { development: m, staging: m, production: m }];
    }),
  ) as PolicyProfile['rules'];
  return {
    id: 'test-profile',
    description: 'test',
    rules,
    settings: { max_input_age_seconds: maxInputAgeSeconds },
  };
}

function under(
  profile: PolicyProfile,
  keys: KeyRing = emptyKeyRing(),
  environment: Environment = 'production',
  override: 'warn' | null = null,
): PolicyInForce {
  return { active: activatePolicy(profile, environment, override), keys };
}

/** Every governance rule enforced, signatures off: one rule at a time can be seen. */
const governance = profileWith('enforce', { signature: 'off' });
const FRESH = { emitted_at: RECEIVED_AT };

function findingsOf(data: unknown) {
  return (data as { policy: { findings: { rule: string; code: string; effect: string }[] } }).policy
    .findings;
}

describe('the governance rules', () => {
  it('budget: usage above the dispatch budget is BUDGET_EXCEEDED, naming each field', () => {
    const then = given(missionIn('running'))
      .whenCallback(
        callbackPayload('mission.progress', {
          ...FRESH,
          usage: { runtime_minutes: 91, llm_calls: 250, estimated_cost_usd: 13 },
        }),
        { policy: under(governance) },
      )
      .thenRejected('BUDGET_EXCEEDED');
    expect(then.thenReason('BUDGET_EXCEEDED').message).toBe(
      'Usage exceeds the dispatch budget: runtime_minutes 91 > max_runtime_minutes 90, estimated_cost_usd 13 > max_cost_usd 12.5.',
    );
  });

  it('autonomy window: a callback emitted after its end is OUTSIDE_AUTONOMY_WINDOW', () => {
    const late = '2025-11-20T11:00:01Z'; // the window ends 12:00+01:00 = 11:00Z
    given(missionIn('running'))
      .whenCallback(callbackPayload('mission.progress', { emitted_at: late }), {
        policy: under(profileWith('enforce', { signature: 'off', staleness: 'off' })),
      })
      .thenRejected('OUTSIDE_AUTONOMY_WINDOW');
  });

  it('required outputs: a completion must list every required output, by ref or last path segment', () => {
    const complete = (refs: string[]) =>
      callbackPayload('mission.completed', {
        ...FRESH,
        artifact_index: refs.map((ref) => ({ ref })),
        next_action: 'Merge.',
      });
    const missing = given(missionIn('running'))
      .whenCallback(complete(['s3://factory/run/patch.diff']), { policy: under(governance) })
      .thenRejected('ARTIFACTS_MISSING');
    expect(missing.thenReason('ARTIFACTS_MISSING').message).toBe(
      'mission.completed lacks required outputs "test-report.json", "summary.md" in its artifact_index.',
    );
    given(missionIn('running'))
      .whenCallback(
        complete(['s3://factory/run/patch.diff', 'test-report.json', 'file:///out/summary.md']),
        { policy: under(governance) },
      )
      .thenAccepted('mission.completed');
  });

  it('staleness: emitted_at or created_at further than the profile allows is INPUT_STALE', () => {
    const strictAge = under(profileWith('enforce', { signature: 'off' }, 60));
    const then = given(missionIn('running'))
      .whenCallback(callbackPayload('mission.progress', { emitted_at: '2025-11-20T09:38:59Z' }), {
        policy: strictAge,
        received_at: '2025-11-20T09:40:00.000Z',
      })
      .thenRejected('INPUT_STALE');
    expect(then.thenReason('INPUT_STALE').message).toContain('is 61 s from the receive time');
    given()
      .whenDispatch(dispatchPayload(), { policy: strictAge, received_at: '2026-01-01T00:00:00Z' })
      .thenRejected('INPUT_STALE');
  });
});

describe('what each mode does with a finding', () => {
  const overBudget = callbackPayload('mission.progress', {
    ...FRESH,
    usage: { runtime_minutes: 1, llm_calls: 999, estimated_cost_usd: 1 },
  });

  it('enforce rejects; warn accepts and records; shadow accepts and records; off records nothing', () => {
    const run = (mode: PolicyMode) =>
      given(missionIn('running')).whenCallback(overBudget, {
        policy: under(profileWith('off', { budget: mode })),
      });
    run('enforce').thenRejected('BUDGET_EXCEEDED');
    const warned = run('warn').thenAccepted('mission.progress');
    expect(findingsOf(warned.decision.events[0]!.data)).toEqual([
      expect.objectContaining({ rule: 'budget', code: 'BUDGET_EXCEEDED', effect: 'warned' }),
    ]);
    const shadowed = run('shadow').thenAccepted('mission.progress');
    expect(findingsOf(shadowed.decision.events[0]!.data)).toEqual([
      expect.objectContaining({ rule: 'budget', effect: 'shadowed', mode: 'shadow' }),
    ]);
    const off = run('off').thenAccepted('mission.progress');
    expect(findingsOf(off.decision.events[0]!.data)).toEqual([]);
  });

  it('the rollback toggle turns enforce into warn, and the decision says so', () => {
    const then = given(missionIn('running'))
      .whenCallback(overBudget, {
        policy: under(
          profileWith('off', { budget: 'enforce' }),
          emptyKeyRing(),
          'production',
          'warn',
        ),
      })
      .thenAccepted('mission.progress');
    const data = then.decision.events[0]!.data as { policy: { override: string } };
    expect(data.policy.override).toBe('warn');
    expect(findingsOf(data)).toEqual([
      expect.objectContaining({ rule: 'budget', mode: 'warn', effect: 'warned' }),
    ]);
  });

  it('a profile may set a contract rule to warn: an illegal transition is then accepted and recorded', () => {
    const then = given(missionIn('queued'))
      .whenCallback(callbackPayload('mission.progress', FRESH), {
        policy: under(profileWith('off', { transition: 'warn' })),
      })
      .thenAccepted('mission.progress');
    expect(findingsOf(then.decision.events[0]!.data)).toEqual([
      expect.objectContaining({ rule: 'transition', code: 'TRANSITION_ILLEGAL', effect: 'warned' }),
    ]);
  });

  it('structural checks are not modes: a closed mission rejects whatever the profile says', () => {
    given(missionIn('completed'))
      .whenCallback(callbackPayload('mission.progress', FRESH), {
        policy: under(profileWith('off')),
      })
      .thenRejected('MISSION_CLOSED');
  });

  it('the shipped profiles: development warns on governance, strict production enforces it', () => {
    const dev = given(missionIn('running'))
      .whenCallback(overBudget, { policy: policyInForce('development', 'development') })
      .thenAccepted('mission.progress');
    expect(findingsOf(dev.decision.events[0]!.data).map((f) => f.effect)).toEqual(['warned']);
    given(missionIn('running'))
      .whenCallback(overBudget, { policy: policyInForce('control-plane-strict-v1', 'production') })
      .thenRejected('SIGNATURE_MISSING', 'BUDGET_EXCEEDED');
    const staging = given(missionIn('running'))
      .whenCallback(overBudget, { policy: policyInForce('control-plane-strict-v1', 'staging') })
      .thenAccepted('mission.progress');
    expect(findingsOf(staging.decision.events[0]!.data).map((f) => f.code)).toEqual([
      'SIGNATURE_MISSING',
      'BUDGET_EXCEEDED',
    ]);
    expect(shippedProfiles['control-plane-strict-v1'].rules.signature.production).toBe('enforce');
  });
});

describe('signed inputs under the strict profile in production', () => {
  const { privateKey, publicKey } = generateKeyPairSync('ed25519');
  const jwk = publicKey.export({ format: 'jwk' }) as { x: string };
  const key = (overrides: Partial<SigningKey> = {}): SigningKey => ({
    key_id: 'factory-07-2025',
    owner: 'ua-factory-07',
    public_key: jwk.x,
    not_before: '2025-01-01T00:00:00Z',
    not_after: null,
    revoked_at: null,
    registered_at: '2025-01-01T00:00:00Z',
    ...overrides,
  });
  const ring = (k: SigningKey): KeyRing => ({ keys: new Map([[k.key_id, k]]), revision: 0 });
  const strict = (keys: KeyRing) => under(shippedProfiles['control-plane-strict-v1'], keys);
  const payload = callbackPayload('mission.progress', FRESH);
  const signature = signInput(payload, { key_id: 'factory-07-2025', privateKey });

  it('accepts a callback signed by a registered key of its sender, and records the signature', () => {
    const then = given(missionIn('running'))
      .whenCallback(payload, { policy: strict(ring(key())), signature })
      .thenAccepted('mission.progress');
    const data = then.decision.events[0]!.data as {
      signature: string;
      policy: unknown;
      key_ring_revision: number;
    };
    expect(data.signature).toBe(signature);
    // The keys it was checked against, for a replay to decide again under the same.
    expect(data.key_ring_revision).toBe(0);
    expect(findingsOf(data)).toEqual([]);
  });

  it('refuses unsigned, tampered, unknown-key, revoked-key and not-yet-valid-key inputs, each with its code', () => {
    const cases: [string, { signature?: string; keys: KeyRing; payload?: unknown }][] = [
      ['SIGNATURE_MISSING', { keys: ring(key()) }],
      [
        'SIGNATURE_INVALID',
        {
          signature,
          keys: ring(key()),
          payload: { ...payload, summary: 'edited after signing' },
        },
      ],
      ['KEY_UNKNOWN', { signature, keys: emptyKeyRing() }],
      ['KEY_UNKNOWN', { signature, keys: ring(key({ owner: 'ua-factory-99' })) }],
      ['KEY_REVOKED', { signature, keys: ring(key({ revoked_at: '2025-06-01T00:00:00Z' })) }],
      ['KEY_NOT_VALID_AT', { signature, keys: ring(key({ not_before: '2099-01-01T00:00:00Z' })) }],
    ];
    for (const [code, c] of cases) {
      given(missionIn('running'))
        .whenCallback(c.payload ?? payload, {
          policy: strict(c.keys),
          ...(c.signature === undefined ? {} : { signature: c.signature }),
        })
        .thenRejected(code as 'SIGNATURE_MISSING');
    }
  });

  it('does not store a signature header that is not a compact JWS', () => {
    const then = given(missionIn('running'))
      .whenCallback(payload, { policy: strict(ring(key())), signature: 'not a jws\u0000' })
      .thenRejected('SIGNATURE_INVALID');
    expect(then.decision.events[0]!.data).not.toHaveProperty('signature');
  });
});
