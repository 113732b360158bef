/**
 * The mission aggregate: a pure decider over the `mission-{mission_id}` stream.
 * `initialMissionState` / `evolveMission` / `foldMission` build the state; `decideDispatch`,
 * `decideCallback` and `decideCancel` turn an input into events. No clock, randomness or I/O:
 * receive times and allocated ids come in as arguments.
 */
export { allowedEventTypes, expectedStatuses, finalEventTypes } from './transitions.ts';
export {
  decideCancelRequest,
  missionAggregate,
  missionDecider,
  type CancelMission,
  type DispatchMission,
  type MissionCommand,
  type MissionCommandMetadata,
  type PostCallback,
} from './aggregate.ts';
export {
  callbackRules,
  finalEventCompleteRule,
  forbiddenInstanceRule,
  identityRule,
  missionClosedRule,
  statusRule,
  traceRule,
  transitionRule,
  usageRule,
  type CallbackContext,
  type CallbackRule,
} from './callback-rules.ts';
export {
  decideCallback,
  decideCancel,
  decideDispatch,
  rejectedInputData,
  type CallbackInput,
  type CancelInput,
  type Decision,
  type DispatchDecision,
  type DispatchInput,
  type PolicyInForce,
} from './decide.ts';
export {
  autonomyWindowRule,
  budgetRule,
  providedOutputs,
  requiredOutputsRule,
  stalenessRule,
} from './governance-rules.ts';
export {
  missionStream,
  type MissionCallbackAcceptedEvent,
  type MissionCallbackRejectedEvent,
  type MissionCancelRejectedEvent,
  type MissionCancelRequestedEvent,
  type MissionDispatchedEvent,
  type MissionDispatchRejectedEvent,
  type MissionEvent,
  type RecordedEvent,
} from './events.ts';
export { inputKindOf, recordedInput, storedScopedKey, type InputKind } from './idempotency.ts';
export { storableInput, textIssues, type TextIssue } from './input-text.ts';
export { scopedKey } from '../idempotency-key.ts';
export { missionReasonCodes, reason, type Reason, type ReasonCode } from './reasons.ts';
export {
  evolveMission,
  foldMission,
  initialMissionState,
  isFinalStatus,
  isLifecycleEventType,
  type MissionFinal,
  type MissionLastEvent,
  type MissionState,
  type PendingCancel,
  type PendingCommand,
} from './state.ts';
export { workspaceKey } from './workspace.ts';
