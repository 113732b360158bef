/*
 * The policy's vocabulary of modes and environments. The stored decision (schemas/) owns the
 * lists, so a decision in the log and the engine that made it cannot disagree on them.
 */
export {
  environments,
  policyModes,
  type Environment,
  type PolicyMode,
} from '../../schemas/policy-decision.ts';
