import { generateKeyPairSync, randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { eventDataSchema, KEYS_STREAM, type Principal } from '../../schemas/index.ts';
import type { RecordedEvent } from '../../src/domain/decider.ts';
import { isEd25519Point } from '../../src/domain/signing-keys/ed25519-point.ts';
import {
  keyRegistryDecider,
  keyRingOf,
  type KeyCommand,
} from '../../src/domain/signing-keys/index.ts';

const operator: Principal = { role: 'operator', id: 'alice' };
const x = () => generateKeyPairSync('ed25519').publicKey.export({ format: 'jwk' }).x!;

/** Given `events` of ledger-keys, when `command`: the decision, its events schema-checked. */
function when(events: RecordedEvent[], command: KeyCommand) {
  let state = keyRegistryDecider.initialState();
  for (const event of events) state = keyRegistryDecider.evolve(state, event);
  const decision = keyRegistryDecider.decide(command, state);
  for (const e of decision.events)
    expect(eventDataSchema(KEYS_STREAM, e.type)?.safeParse(e.data).success, e.type).toBe(true);
  return decision;
}

const register = (body: unknown, received_at = '2026-01-01T00:00:00Z', principal = operator) =>
  ({
    type: 'registerKey',
    data: { body },
    metadata: { received_at, principal, idempotency_key: undefined },
  }) as const;
const revoke = (key_id: string, body: unknown, received_at = '2026-02-01T00:00:00Z') =>
  ({
    type: 'revokeKey',
    data: { key_id, body },
    metadata: { received_at, principal: operator, idempotency_key: undefined },
  }) as const;

describe('the key registry decider', () => {
  it('registers a key with its window, from the registration time when none is given', () => {
    const key = x();
    const decision = when([], register({ key_id: 'k1', owner: 'f7', public_key: key }));
    expect(decision).toEqual({
      outcome: 'accepted',
      events: [
        {
          type: 'key.registered',
          data: {
            key_id: 'k1',
            owner: 'f7',
            public_key: key,
            not_before: null,
            not_after: null,
            registered_at: '2026-01-01T00:00:00Z',
            principal: operator,
          },
        },
      ],
    });
    const ring = keyRingOf(decision.events);
    expect(ring.revision).toBe(0);
    expect(ring.keys.get('k1')).toMatchObject({
      not_before: '2026-01-01T00:00:00Z',
      revoked_at: null,
    });
  });

  it.each([
    ['a key id with a slash', { key_id: 'a/b', owner: 'f7', public_key: x() }],
    [
      'bytes off the curve',
      {
        key_id: 'k',
        owner: 'f7',
        public_key: Buffer.from([2, ...new Array<number>(31).fill(0)]).toString('base64url'),
      },
    ],
    [
      'an empty window',
      {
        key_id: 'k',
        owner: 'f7',
        public_key: x(),
        not_before: '2026-02-01T00:00:00Z',
        not_after: '2026-02-01T00:00:00Z',
      },
    ],
    ['an unknown field', { key_id: 'k', owner: 'f7', public_key: x(), kty: 'OKP' }],
  ])('rejects %s as SCHEMA_INVALID, recording the input', (_name, body) => {
    const decision = when([], register(body));
    expect(decision).toMatchObject({ outcome: 'rejected', reasons: [{ code: 'SCHEMA_INVALID' }] });
    expect(decision.events[0]).toMatchObject({
      type: 'key.registration_rejected',
      data: { input: { key_id: body.key_id } },
    });
  });

  it('rejects a key id already registered with ALREADY_EXISTS, and a non-operator with FORBIDDEN', () => {
    const given = when([], register({ key_id: 'k1', owner: 'f7', public_key: x() })).events;
    expect(when(given, register({ key_id: 'k1', owner: 'f7', public_key: x() }))).toMatchObject({
      reasons: [{ code: 'ALREADY_EXISTS' }],
    });
    const factory: Principal = { role: 'factory', id: 'f7' };
    expect(
      when([], register({ key_id: 'k2', owner: 'f7', public_key: x() }, undefined, factory)),
    ).toMatchObject({
      reasons: [{ code: 'FORBIDDEN' }],
    });
  });

  it('revokes a registered key from the revocation time on; the first revocation stands', () => {
    const given = when([], register({ key_id: 'k1', owner: 'f7', public_key: x() })).events;
    const revoked = when(given, revoke('k1', { reason: 'Lost.' }));
    expect(revoked.events).toEqual([
      {
        type: 'key.revoked',
        data: {
          key_id: 'k1',
          revoked_at: '2026-02-01T00:00:00Z',
          reason: 'Lost.',
          principal: operator,
        },
      },
    ]);
    const history = [...given, ...revoked.events];
    expect(when(history, revoke('k1', { reason: 'Again.' }, '2026-03-01T00:00:00Z'))).toMatchObject(
      {
        outcome: 'rejected',
        reasons: [{ code: 'ALREADY_EXISTS' }],
      },
    );
    expect(keyRingOf(history).keys.get('k1')?.revoked_at).toBe('2026-02-01T00:00:00Z');
    expect(when([], revoke('k9', { reason: 'x' }))).toMatchObject({
      reasons: [{ code: 'NOT_FOUND' }],
    });
  });

  it('folds rejections into the revision without changing any key', () => {
    const registered = when([], register({ key_id: 'k1', owner: 'f7', public_key: x() })).events;
    const rejected = when(registered, revoke('k9', { reason: 'x' })).events;
    const ring = keyRingOf([...registered, ...rejected]);
    expect(ring.revision).toBe(1);
    expect([...ring.keys.keys()]).toEqual(['k1']);
  });
});

describe('isEd25519Point', () => {
  it('accepts every generated public key and refuses about half of random byte strings', () => {
    for (let i = 0; i < 50; i += 1)
      expect(isEd25519Point(Buffer.from(x(), 'base64url'))).toBe(true);
    const refused = Array.from({ length: 400 }, () => isEd25519Point(randomBytes(32))).filter(
      (ok) => !ok,
    );
    expect(refused.length).toBeGreaterThan(120);
    expect(refused.length).toBeLessThan(280);
  });

  it('refuses y >= p and the wrong length', () => {
    expect(isEd25519Point(Buffer.alloc(32, 0xff).fill(0x7f, 31))).toBe(false);
    expect(isEd25519Point(Buffer.alloc(31))).toBe(false);
  });
});
