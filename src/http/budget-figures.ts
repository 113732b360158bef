import type { BudgetRow } from '../../projections/budgets.ts';
import type { UsageFigures } from './response-schemas/index.ts';

/**
 * A mission's usage against its budget, as every answer shows it (`GET /v1/missions/{id}`, the
 * mission list, `GET /v1/budgets/{mission_id}`): one figure per usage field of the contract, under
 * the callbacks' names (`runtime_minutes`, `llm_calls`, `estimated_cost_usd`), each
 * `{used, max, percent, breached}` with `max` the dispatch's budget for it. The arithmetic is the
 * budgets projection's ({@link BudgetRow}): percent is `used / max * 100` to two decimals, `null`
 * when the max is 0; breached is `used > max`.
 */
export function usageFigures(row: BudgetRow): UsageFigures {
  return {
    runtime_minutes: {
      used: row.used_runtime_minutes,
      max: row.max_runtime_minutes,
      percent: row.runtime_pct,
      breached: row.runtime_breached,
    },
    llm_calls: {
      used: row.used_llm_calls,
      max: row.max_llm_calls,
      percent: row.llm_calls_pct,
      breached: row.llm_calls_breached,
    },
    estimated_cost_usd: {
      used: row.used_cost_usd,
      max: row.max_cost_usd,
      percent: row.cost_pct,
      breached: row.cost_breached,
    },
  };
}
