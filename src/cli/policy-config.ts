import { readFile } from 'node:fs/promises';
import { z } from 'zod';
import type { ProfileSignature } from '../../schemas/policy-events.ts';
import type { LedgerConfig } from '../config.ts';
import { LedgerError } from '../errors.ts';
import { parseProfile, type PolicyProfile } from '../policy/profile.ts';
import {
  parseProfileSignature,
  verifyProfileSignature,
  type TrustedProfileKey,
} from '../policy/profile-signature.ts';
import { defaultProfileId, shippedProfiles } from '../policy/shipped-profiles.ts';
import { findJsonSyntaxError } from './json-syntax-error.ts';

/** The policy a process starts with, and how it judges profile documents an operator activates. */
export interface PolicyConfig {
  profile: PolicyProfile;
  /** The trusted key that signed the profile file; null for a shipped profile. */
  signedBy: string | null;
  /** Whether a profile document may be put in force: the signing key id, null, or PROFILE_UNTRUSTED. */
  trust: (profile: PolicyProfile, signature: ProfileSignature | undefined) => string | null;
}

const trustedKeysSchema = z.array(
  z.strictObject({ key_id: z.string().min(1).max(256), public_key_pem: z.string().min(1) }),
);

/** Reads a JSON file, naming the variable and the line and column of a syntax error. */
async function readJson(path: string, variable: string): Promise<unknown> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (error) {
    throw new LedgerError(
      'CONFIGURATION_INVALID',
      `Cannot read ${variable} ${path}.`,
      { path },
      { cause: error },
    );
  }
  try {
    return JSON.parse(text);
  } catch {
    const at = findJsonSyntaxError(text);
    const where = at === undefined ? '' : `: ${at.found} at line ${at.line}, column ${at.column}`;
    throw new LedgerError('CONFIGURATION_INVALID', `${variable} ${path} is not JSON${where}.`, {
      path,
    });
  }
}

async function trustedKeys(config: LedgerConfig): Promise<TrustedProfileKey[]> {
  const path = config.LEDGER_POLICY_TRUSTED_KEYS;
  if (path === undefined) return [];
  const parsed = trustedKeysSchema.safeParse(await readJson(path, 'LEDGER_POLICY_TRUSTED_KEYS'));
  if (!parsed.success) {
    throw new LedgerError(
      'CONFIGURATION_INVALID',
      `LEDGER_POLICY_TRUSTED_KEYS ${path} must be a JSON array of {"key_id", "public_key_pem"}.`,
      { path },
    );
  }
  return parsed.data;
}

/**
 * The policy of `ledger serve`: LEDGER_POLICY_PROFILE names a shipped profile or a profile file
 * (its detached signature beside it, `<file>.sig.json`); unset, the shipped default of the
 * environment. A profile document is trusted when signed by a key of LEDGER_POLICY_TRUSTED_KEYS;
 * production refuses one that is not (`PROFILE_UNTRUSTED`), every environment refuses a signature
 * that does not verify. Shipped profiles are part of the release and need no signature.
 */
export async function loadPolicyConfig(config: LedgerConfig): Promise<PolicyConfig> {
  const keys = await trustedKeys(config);
  const production = config.LEDGER_ENV === 'production';
  const trust = (profile: PolicyProfile, signature: ProfileSignature | undefined) => {
    if (signature === undefined) {
      if (!production) return null;
      throw new LedgerError(
        'PROFILE_UNTRUSTED',
        `Profile ${JSON.stringify(profile.id)} is not signed: production takes a shipped profile or one signed by a key of LEDGER_POLICY_TRUSTED_KEYS.`,
        { profile: profile.id },
      );
    }
    const check = verifyProfileSignature(profile, signature, keys);
    if (check.ok) return check.key_id;
    throw new LedgerError(
      'PROFILE_UNTRUSTED',
      `The signature of profile ${JSON.stringify(profile.id)} is not accepted: ${check.reason}.`,
      { profile: profile.id, key_id: signature.key_id },
    );
  };

  const named = config.LEDGER_POLICY_PROFILE ?? defaultProfileId(config.LEDGER_ENV);
  const shipped = (shippedProfiles as Record<string, PolicyProfile>)[named];
  if (shipped !== undefined) return { profile: shipped, signedBy: null, trust };
  if (!named.endsWith('.json')) {
    throw new LedgerError(
      'CONFIGURATION_INVALID',
      `LEDGER_POLICY_PROFILE ${JSON.stringify(named)} is neither a shipped profile (${Object.keys(shippedProfiles).join(', ')}) nor a .json profile file.`,
    );
  }
  const profile = parseProfile(await readJson(named, 'LEDGER_POLICY_PROFILE'));
  const signaturePath = `${named.slice(0, -'.json'.length)}.sig.json`;
  let signature: ProfileSignature | undefined;
  try {
    signature = parseProfileSignature(JSON.parse(await readFile(signaturePath, 'utf8')));
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw error;
  }
  return { profile, signedBy: trust(profile, signature), trust };
}
