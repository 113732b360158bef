import { z } from 'zod';
import { LedgerError } from './errors.ts';
import {
  DEFAULT_BODY_LIMIT,
  DEFAULT_MAX_EVENT_BYTES,
  DEFAULT_REJECTION_BYTES_PER_MINUTE,
  DEFAULT_REJECTIONS_PER_MINUTE,
  DEFAULT_STORE_URL,
} from './defaults.ts';

/**
 * The ledger's configuration, from the environment. Every variable is documented in the
 * README's configuration table; a test keeps the two in step.
 */
export const configSchema = z.object({
  PORT: z.coerce.number().int().min(0).max(65535).default(4100),
  HOST: z.string().min(1).default('127.0.0.1'),
  LEDGER_STORE: z.string().min(1).default(DEFAULT_STORE_URL),
  LEDGER_ENV: z.enum(['development', 'staging', 'production']).default('development'),
  /**
   * `1` lets `LEDGER_ENV=production` run on a store that does not fsync (embedded PGlite,
   * `memory:`); without it production refuses one, since a crash there loses acknowledged events.
   */
  LEDGER_ALLOW_UNSAFE_STORE: z.enum(['0', '1'], { error: 'must be 1 (allow) or 0' }).default('0'),
  LEDGER_MAX_EVENT_BYTES: z.coerce.number().int().min(1024).default(DEFAULT_MAX_EVENT_BYTES),
  LEDGER_BODY_LIMIT: z.coerce.number().int().min(1024).default(DEFAULT_BODY_LIMIT),
  LEDGER_TOKENS_FILE: z.string().min(1).optional(),
  LEDGER_READ_MODELS: z.string().min(1).optional(),
  LEDGER_MIN_POSITION_WAIT_MS: z.coerce.number().int().min(0).max(60_000).default(5_000),
  LEDGER_REJECTIONS_PER_MINUTE: z.coerce
    .number()
    .int()
    .min(1)
    .default(DEFAULT_REJECTIONS_PER_MINUTE),
  LEDGER_REJECTION_BYTES_PER_MINUTE: z.coerce
    .number()
    .int()
    .min(1024)
    .default(DEFAULT_REJECTION_BYTES_PER_MINUTE),
  LEDGER_STORE_TIMEOUT_MS: z.coerce.number().int().min(100).max(600_000).default(5_000),
  LEDGER_REQUEST_TIMEOUT_MS: z.coerce.number().int().min(100).max(600_000).default(10_000),
  LEDGER_READYZ_TIMEOUT_MS: z.coerce.number().int().min(50).max(60_000).default(1_000),
  /**
   * The policy profile in force: a shipped profile's id (`control-plane-strict-v1`,
   * `development`) or the path of a profile file `NAME.json`, its signature beside it in
   * `NAME.sig.json`. Unset: `control-plane-strict-v1` in production, `development` otherwise.
   */
  LEDGER_POLICY_PROFILE: z.string().min(1).optional(),
  /** `warn`: the rollback toggle, every `enforce` of the profile becomes `warn` (recorded). */
  LEDGER_POLICY_MODE: z.enum(['warn'], { error: 'must be warn, or unset' }).optional(),
  /** A JSON file of `{key_id, public_key_pem}`: who may sign a profile file production accepts. */
  LEDGER_POLICY_TRUSTED_KEYS: z.string().min(1).optional(),
  LOG_LEVEL: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),
});

export type LedgerConfig = z.infer<typeof configSchema>;

/** Reads the configuration; an invalid value fails start-up with every problem named. */
export function loadConfig(env: Record<string, string | undefined> = process.env): LedgerConfig {
  const defined = Object.fromEntries(
    Object.entries(env).filter(([, v]) => v !== undefined && v !== ''),
  );
  const parsed = configSchema.safeParse(defined);
  if (!parsed.success) {
    const problems = parsed.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`);
    throw new LedgerError(
      'CONFIGURATION_INVALID',
      `Invalid configuration: ${problems.join('; ')}`,
      { problems },
    );
  }
  return parsed.data;
}
