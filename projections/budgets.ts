import {
  lifecycleEventTypeSchema,
  missionCallbackAcceptedDataSchema,
  missionDispatchedDataSchema,
  type MissionBudget,
  type MissionType,
  type MissionUsage,
} from '../schemas/index.ts';
import type { StoredEvent } from '../schemas/stored-event.ts';
import {
  missionIdOfStream,
  parseEventData,
  type Lookup,
  type ProjectionFold,
  type RowChange,
} from './projection.ts';

/**
 * One row per mission: usage (of the latest accepted callback) against the dispatch budget.
 * Primary key `mission_id`.
 *
 * - `*_pct` is `used / max * 100`, rounded to two decimals; `null` when the max is 0.
 * - `*_breached` is `used > max`, on the unrounded values (reaching the ceiling is not a breach;
 *   a max of 0 is breached by any use). `any_breached` is their disjunction.
 */
export interface BudgetRow {
  mission_id: string;
  mission_type: MissionType;
  max_runtime_minutes: number;
  max_llm_calls: number;
  max_cost_usd: number;
  used_runtime_minutes: number;
  used_llm_calls: number;
  used_cost_usd: number;
  runtime_pct: number | null;
  llm_calls_pct: number | null;
  cost_pct: number | null;
  runtime_breached: boolean;
  llm_calls_breached: boolean;
  cost_breached: boolean;
  any_breached: boolean;
  /** `received_at` of the dispatch or of the latest usage report. */
  updated_at: string;
  last_position: number;
}

/** The tables of {@link budgetsProjection}. */
export interface BudgetTables {
  budgets: BudgetRow;
}

const NAME = 'budgets';
const lifecycleTypes: ReadonlySet<string> = new Set(lifecycleEventTypeSchema.options);

const percent = (used: number, max: number): number | null =>
  max === 0 ? null : Math.round((used / max) * 10_000) / 100;

/** The budget row of a mission with `budget`, having used `usage`. */
export function budgetRow(
  base: { mission_id: string; mission_type: MissionType },
  budget: MissionBudget,
  usage: MissionUsage,
  updatedAt: string,
  position: number,
): BudgetRow {
  const runtime = usage.runtime_minutes > budget.max_runtime_minutes;
  const llmCalls = usage.llm_calls > budget.max_llm_calls;
  const cost = usage.estimated_cost_usd > budget.max_cost_usd;
  return {
    mission_id: base.mission_id,
    mission_type: base.mission_type,
    max_runtime_minutes: budget.max_runtime_minutes,
    max_llm_calls: budget.max_llm_calls,
    max_cost_usd: budget.max_cost_usd,
    used_runtime_minutes: usage.runtime_minutes,
    used_llm_calls: usage.llm_calls,
    used_cost_usd: usage.estimated_cost_usd,
    runtime_pct: percent(usage.runtime_minutes, budget.max_runtime_minutes),
    llm_calls_pct: percent(usage.llm_calls, budget.max_llm_calls),
    cost_pct: percent(usage.estimated_cost_usd, budget.max_cost_usd),
    runtime_breached: runtime,
    llm_calls_breached: llmCalls,
    cost_breached: cost,
    any_breached: runtime || llmCalls || cost,
    updated_at: updatedAt,
    last_position: position,
  };
}

/**
 * `budgets`: created by `mission.dispatched` (zero usage), updated by every accepted lifecycle
 * event (usage is cumulative, so the latest report is the usage), as the mission fold does.
 */
export const budgetsProjection: ProjectionFold<BudgetTables> = {
  name: NAME,
  version: 1,
  tables: {
    budgets: { primaryKey: ['mission_id'], description: 'Usage against budget per mission.' },
  },
  handles: (type) => type === 'mission.dispatched' || lifecycleTypes.has(type),
  prefetch(event) {
    const missionId = missionIdOfStream(event.stream);
    return missionId === undefined ? [] : [{ table: 'budgets', key: missionId }];
  },
  apply(event: StoredEvent, lookup: Lookup<BudgetTables>): RowChange<BudgetTables>[] {
    const missionId = missionIdOfStream(event.stream);
    if (missionId === undefined) return [];
    const current = lookup('budgets', missionId);
    if (event.type === 'mission.dispatched') {
      if (current !== undefined) return [];
      const data = parseEventData(NAME, event, missionDispatchedDataSchema);
      const zero: MissionUsage = { runtime_minutes: 0, llm_calls: 0, estimated_cost_usd: 0 };
      const row = budgetRow(
        { mission_id: missionId, mission_type: data.input.mission_type },
        data.input.budget,
        zero,
        data.received_at,
        event.position,
      );
      return [{ table: 'budgets', key: missionId, row }];
    }
    if (!lifecycleTypes.has(event.type) || current === undefined) return [];
    const data = parseEventData(NAME, event, missionCallbackAcceptedDataSchema);
    const budget: MissionBudget = {
      max_runtime_minutes: current.max_runtime_minutes,
      max_llm_calls: current.max_llm_calls,
      max_cost_usd: current.max_cost_usd,
    };
    const row = budgetRow(current, budget, data.callback.usage, data.received_at, event.position);
    return [{ table: 'budgets', key: missionId, row }];
  },
};
