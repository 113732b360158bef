import type { PolicyInForce } from '../../src/domain/mission/index.ts';
import type { Environment } from '../../schemas/index.ts';
import { activatePolicy } from '../../src/policy/active-policy.ts';
import type { KeyRing } from '../../src/policy/signature.ts';
import { initialKeyRegistryState, keyRingFromState } from '../../src/domain/signing-keys/index.ts';
import { shippedProfiles, type ShippedProfileId } from '../../src/policy/shipped-profiles.ts';

/** A key ring with no keys. */
export const emptyKeyRing = (): KeyRing => keyRingFromState(initialKeyRegistryState());

/**
 * The policy a test decides under: a shipped profile in an environment (default: what
 * `ledger serve` runs with nothing configured, `development` in development), no keys.
 */
export function policyInForce(
  profile: ShippedProfileId = 'development',
  environment: Environment = 'development',
  override: 'warn' | null = null,
  keys: KeyRing = emptyKeyRing(),
): PolicyInForce {
  return { active: activatePolicy(shippedProfiles[profile], environment, override), keys };
}
