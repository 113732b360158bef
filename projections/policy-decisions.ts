import type { z } from 'zod';
import {
  lifecycleEventTypeSchema,
  missionCallbackAcceptedDataSchema,
  missionCallbackRejectedDataSchema,
  missionDispatchedDataSchema,
  missionDispatchRejectedDataSchema,
  type PolicyDecision,
  type PolicyDecisionFinding,
  type Principal,
} from '../schemas/index.ts';
import type { StoredEvent } from '../schemas/stored-event.ts';
import {
  missionIdOfStream,
  parseEventData,
  rowKey,
  utcHour,
  type Lookup,
  type ProjectionFold,
  type RowChange,
} from './projection.ts';

/**
 * Findings per UTC hour, rule, reason code, effect, sender and profile, primary key (`hour`,
 * `rule`, `code`, `effect`, `factory`, `profile_id`). `hour` is the UTC hour of the input's
 * `received_at` (`YYYY-MM-DDTHH:00:00.000Z`); sum rows for any window of whole hours.
 */
export interface PolicyFindingCountRow {
  hour: string;
  rule: string;
  code: string;
  /** `rejected` (enforced: a block), `warned` or `shadowed`. */
  effect: PolicyDecisionFinding['effect'];
  /**
   * The principal id of the input: the factory instance for callbacks, the operator for
   * dispatches.
   */
  factory: string;
  profile_id: string;
  findings: number;
}

/**
 * Inputs decided per UTC hour and profile, primary key (`hour`, `profile_id`): `decided` counts
 * every input with a recorded decision, `rejected` those whose decision was `rejected` (an
 * enforced finding), whatever else was wrong with them.
 */
export interface PolicyInputCountRow {
  hour: string;
  profile_id: string;
  decided: number;
  rejected: number;
}

/** The tables of {@link policyDecisionsProjection}. */
export interface PolicyDecisionsTables {
  policy_decisions_findings: PolicyFindingCountRow;
  policy_decisions_inputs: PolicyInputCountRow;
}

type Change = RowChange<PolicyDecisionsTables>;

/** The part of a decided input's data this projection reads. */
interface Decided {
  received_at: string;
  principal: Principal;
  policy?: PolicyDecision | undefined;
}

const NAME = 'policy_decisions';

/**
 * The mission-stream types that carry a decision, with their data schema: the same schema objects
 * the other projections parse with, so one event's data is validated once per pass.
 */
const decidedSchemas: ReadonlyMap<string, z.ZodType<Decided>> = new Map<string, z.ZodType<Decided>>(
  [
    ['mission.dispatched', missionDispatchedDataSchema],
    ['mission.dispatch_rejected', missionDispatchRejectedDataSchema],
    ['mission.callback_rejected', missionCallbackRejectedDataSchema],
    ...lifecycleEventTypeSchema.options.map(
      (type) => [type, missionCallbackAcceptedDataSchema] as const,
    ),
  ],
);

/** The decision an event of a mission stream records, with its hour and sender; if it has one. */
function decidedInput(event: StoredEvent) {
  const schema = decidedSchemas.get(event.type);
  if (schema === undefined || missionIdOfStream(event.stream) === undefined) return undefined;
  const data = parseEventData(NAME, event, schema);
  const decision = data.policy;
  if (decision === undefined) return undefined;
  return {
    hour: utcHour(data.received_at),
    profileId: decision.profile.id,
    factory: data.principal.id,
    decision,
  };
}

/**
 * `policy_decisions`: what the policy did, per UTC hour. Reads the decision recorded with each
 * dispatch and callback of a mission stream; events without one (ledgers before policies) count
 * nothing. `ledger-rejections` is not read: its inputs are refused before the policy runs, so
 * they carry no decision.
 */
export const policyDecisionsProjection: ProjectionFold<PolicyDecisionsTables> = {
  name: NAME,
  version: 1,
  tables: {
    policy_decisions_findings: {
      primaryKey: ['hour', 'rule', 'code', 'effect', 'factory', 'profile_id'],
      description: 'Policy findings per UTC hour, rule, reason code, effect, sender and profile.',
      // GET /v1/dashboards/policy: the rows of the last 168 hours.
      indexes: [['hour']],
    },
    policy_decisions_inputs: {
      primaryKey: ['hour', 'profile_id'],
      description: 'Decided inputs and policy rejections per UTC hour and profile.',
      indexes: [['hour']],
    },
  },
  handles: (type) => decidedSchemas.has(type),
  prefetch(event) {
    const decided = decidedInput(event);
    if (decided === undefined) return [];
    const { hour, profileId, factory, decision } = decided;
    return [
      { table: 'policy_decisions_inputs', key: rowKey(hour, profileId) },
      ...decision.findings.map(({ rule, code, effect }) => ({
        table: 'policy_decisions_findings' as const,
        key: rowKey(hour, rule, code, effect, factory, profileId),
      })),
    ];
  },
  apply(event: StoredEvent, lookup: Lookup<PolicyDecisionsTables>): Change[] {
    const decided = decidedInput(event);
    if (decided === undefined) return [];
    const { hour, profileId, factory, decision } = decided;

    const inputKey = rowKey(hour, profileId);
    const input = lookup('policy_decisions_inputs', inputKey) ?? {
      hour,
      profile_id: profileId,
      decided: 0,
      rejected: 0,
    };
    const changes: Change[] = [
      {
        table: 'policy_decisions_inputs',
        key: inputKey,
        row: {
          ...input,
          decided: input.decided + 1,
          rejected: input.rejected + (decision.outcome === 'rejected' ? 1 : 0),
        },
      },
    ];

    // At most one change per key: two findings of one (rule, code, effect) add 2 to one row.
    const findings = new Map<string, PolicyFindingCountRow>();
    for (const { rule, code, effect } of decision.findings) {
      const key = rowKey(hour, rule, code, effect, factory, profileId);
      const row = findings.get(key) ??
        lookup('policy_decisions_findings', key) ?? {
          hour,
          rule,
          code,
          effect,
          factory,
          profile_id: profileId,
          findings: 0,
        };
      findings.set(key, { ...row, findings: row.findings + 1 });
    }
    for (const [key, row] of findings) {
      changes.push({ table: 'policy_decisions_findings', key, row });
    }
    return changes;
  },
};
