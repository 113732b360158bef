import type { PolicyProfile } from '../profile.ts';

/**
 * Seed 001's strict profile: production enforces every rule, a valid signature included
 * (`require-valid-signature`); staging and development enforce the contract rules and warn on
 * the governance rules, so their findings show before production rejects on them.
 */
export const controlPlaneStrictV1 = {
  id: 'control-plane-strict-v1',
  description:
    'Production enforces every rule, signatures required; staging and development enforce the ' +
    'contract rules and warn on the governance rules.',
  rules: {
    identity: { development: 'enforce', staging: 'enforce', production: 'enforce' },
    trace: { development: 'enforce', staging: 'enforce', production: 'enforce' },
    status: { development: 'enforce', staging: 'enforce', production: 'enforce' },
    transition: { development: 'enforce', staging: 'enforce', production: 'enforce' },
    final_event: { development: 'enforce', staging: 'enforce', production: 'enforce' },
    usage_monotonic: { development: 'enforce', staging: 'enforce', production: 'enforce' },
    signature: { development: 'warn', staging: 'warn', production: 'enforce' },
    budget: { development: 'warn', staging: 'warn', production: 'enforce' },
    autonomy_window: { development: 'warn', staging: 'warn', production: 'enforce' },
    required_outputs: { development: 'warn', staging: 'warn', production: 'enforce' },
    staleness: { development: 'warn', staging: 'warn', production: 'enforce' },
  },
  settings: { max_input_age_seconds: 300 },
} as const satisfies PolicyProfile;
