/**
 * The faults `ledger trace generate` injects, each drawn once per mission at its rate (a
 * Bernoulli trial per mission, independent of the others). `signedOnly` faults are about
 * signatures and are injected only with `--signed`; `revoked_key` only into missions dispatched
 * after the mid-trace revocation. `strict` is what control-plane-strict-v1 in production does with
 * the faulty input: the reason code it rejects with, or `duplicate` when idempotency answers it.
 * The same table is printed by `ledger trace generate --help` and in docs/traces.md.
 */
export const faultRates = {
  duplicate_delivery: {
    rate: 0.1,
    signedOnly: false,
    strict: 'duplicate',
    description: 'an accepted callback re-sent with the same idempotency key and body',
  },
  late_delivery: {
    rate: 0.08,
    signedOnly: false,
    strict: 'INPUT_STALE',
    description: 'a progress callback received 6 to 65 minutes after its emitted_at',
  },
  identity_mismatch: {
    rate: 0.05,
    signedOnly: false,
    strict: 'IDENTITY_MISMATCH',
    description: "a callback naming another runtime lane than the dispatch's vp_runtime_id",
  },
  trace_mismatch: {
    rate: 0.05,
    signedOnly: false,
    strict: 'TRACE_MISMATCH',
    description: "a callback carrying another trace_id than the dispatch's",
  },
  budget_overrun: {
    rate: 0.05,
    signedOnly: false,
    strict: 'BUDGET_EXCEEDED',
    description: 'a progress callback reporting more llm_calls than the budget allows',
  },
  missing_outputs: {
    rate: 0.06,
    signedOnly: false,
    strict: 'ARTIFACTS_MISSING',
    description:
      'a mission.completed whose artifact_index lacks a required output (a complete one follows)',
  },
  wrong_instance: {
    rate: 0.04,
    signedOnly: false,
    strict: 'FORBIDDEN_INSTANCE',
    description: 'another factory posts (and signs, with its own key) a callback for the mission',
  },
  stale_replay: {
    rate: 0.04,
    signedOnly: false,
    strict: 'duplicate',
    description:
      'the captured mission.accepted callback replayed verbatim 6 to 65 minutes after the mission closed',
  },
  cancel_mid_flight: {
    rate: 0.06,
    signedOnly: false,
    strict: 'accepted',
    description:
      'an operator cancels the running mission; the factory closes it with mission.cancelled',
  },
  unsigned: {
    rate: 0.05,
    signedOnly: true,
    strict: 'SIGNATURE_MISSING',
    description: 'a callback without a Ledger-Signature',
  },
  bad_signature: {
    rate: 0.04,
    signedOnly: true,
    strict: 'SIGNATURE_INVALID',
    description: 'a callback whose body was changed after it was signed',
  },
  expired_key: {
    rate: 0.03,
    signedOnly: true,
    strict: 'KEY_NOT_VALID_AT',
    description: "a callback signed with the factory's key whose validity window has ended",
  },
  revoked_key: {
    rate: 0.04,
    signedOnly: true,
    strict: 'KEY_REVOKED',
    description: "a callback signed with the factory's key revoked mid-trace",
  },
} as const satisfies Record<
  string,
  { rate: number; signedOnly: boolean; strict: string; description: string }
>;

/** The name of a fault kind. */
export type FaultKind = keyof typeof faultRates;

/** Every fault kind, in table order: the order in which they are drawn for each mission. */
export const faultKinds = Object.keys(faultRates) as FaultKind[];

/** The fault table as plain text: one row per kind, for `--help`. */
export function faultTable(): string {
  const rows = faultKinds.map((kind) => {
    const fault = faultRates[kind];
    const rate = `${(fault.rate * 100).toFixed(0)}%`;
    const signed = fault.signedOnly ? ' (--signed only)' : '';
    return `  ${kind.padEnd(19)} ${rate.padStart(4)}  ${fault.strict.padEnd(18)} ${fault.description}${signed}`;
  });
  return [`  ${'fault'.padEnd(19)} rate  ${'strict production'.padEnd(18)} what`, ...rows].join(
    '\n',
  );
}
