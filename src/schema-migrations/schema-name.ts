import { LedgerError } from '../errors.ts';

const SAFE_SCHEMA = /^[a-z_][a-z0-9_]{0,62}$/;

/**
 * Refuses a schema name that is not a plain lower-case identifier of at most 63 bytes, so that
 * quoting it is the identity plus the quotes and no statement can be steered by it.
 */
export function assertSchemaName(schema: string): void {
  if (!SAFE_SCHEMA.test(schema)) {
    throw new LedgerError(
      'CONFIGURATION_INVALID',
      `Schema name ${JSON.stringify(schema)} must match ${SAFE_SCHEMA}.`,
    );
  }
}
