import type { Environment } from '../../schemas/policy-decision.ts';
import type { PolicyProfile } from './profile.ts';
import { controlPlaneStrictV1 } from './profiles/control-plane-strict-v1.ts';
import { development } from './profiles/development.ts';

/**
 * The profiles the ledger ships, by id. Read-only: a profile's digest must not drift at run time.
 */
export const shippedProfiles = {
  'control-plane-strict-v1': controlPlaneStrictV1,
  development,
} as const satisfies Readonly<Record<string, PolicyProfile>>;

/** The id of a shipped profile. */
export type ShippedProfileId = keyof typeof shippedProfiles;

/**
 * The profile a ledger runs when none is configured: the strict profile in production
 * (seed 001's `require-valid-signature` default), the development profile elsewhere.
 */
export function defaultProfileId(environment: Environment): ShippedProfileId {
  return environment === 'production' ? 'control-plane-strict-v1' : 'development';
}
