import type { PolicyProfile } from '../profile.ts';

/**
 * The profile when nothing is configured outside production: the contract rules are enforced
 * everywhere, as they always were; the governance rules only warn. In development a local
 * factory need not sign nor keep a clock in step, so signature and staleness are off there.
 */
export const development = {
  id: 'development',
  description:
    'Contract rules enforced everywhere; governance rules warn, and in development signature ' +
    'and staleness are off.',
  rules: {
    identity: { development: 'enforce', staging: 'enforce', production: 'enforce' },
    trace: { development: 'enforce', staging: 'enforce', production: 'enforce' },
    status: { development: 'enforce', staging: 'enforce', production: 'enforce' },
    transition: { development: 'enforce', staging: 'enforce', production: 'enforce' },
    final_event: { development: 'enforce', staging: 'enforce', production: 'enforce' },
    usage_monotonic: { development: 'enforce', staging: 'enforce', production: 'enforce' },
    signature: { development: 'off', staging: 'warn', production: 'warn' },
    budget: { development: 'warn', staging: 'warn', production: 'warn' },
    autonomy_window: { development: 'warn', staging: 'warn', production: 'warn' },
    required_outputs: { development: 'warn', staging: 'warn', production: 'warn' },
    staleness: { development: 'off', staging: 'warn', production: 'warn' },
  },
  settings: { max_input_age_seconds: 86400 },
} as const satisfies PolicyProfile;
