/**
 * The read-model projections: pure folds from stored events to table rows. See README.md for the
 * convention (`apply(event, lookup) -> RowChange[]`).
 */
export * from './projection.ts';
export * from './mission-state.ts';
export * from './budgets.ts';
export * from './vp-sessions.ts';
export * from './approval-queue.ts';
export * from './mission-health.ts';
export * from './policy-decisions.ts';

import { approvalQueueProjection } from './approval-queue.ts';
import { budgetsProjection } from './budgets.ts';
import { missionHealthProjection } from './mission-health.ts';
import { missionStateProjection } from './mission-state.ts';
import { policyDecisionsProjection } from './policy-decisions.ts';
import { vpSessionsProjection } from './vp-sessions.ts';

/** Every projection, for the projection engine, `ledger replay --verify` and rebuilds. */
export const projections = [
  missionStateProjection,
  budgetsProjection,
  vpSessionsProjection,
  approvalQueueProjection,
  missionHealthProjection,
  policyDecisionsProjection,
] as const;
