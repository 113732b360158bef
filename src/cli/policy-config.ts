import { access } from 'node:fs/promises';
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
import { readJsonFile } from './json-file.ts';

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

async function trustedKeys(config: LedgerConfig): Promise<TrustedProfileKey[]> {
  const path = config.LEDGER_POLICY_TRUSTED_KEYS;
  if (path === undefined) return [];
  const parsed = trustedKeysSchema.safeParse(
    await readJsonFile(path, 'LEDGER_POLICY_TRUSTED_KEYS'),
  );
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
  const profile = await loadNamedProfile(named, 'LEDGER_POLICY_PROFILE');
  if ((shippedProfiles as Record<string, PolicyProfile>)[named] !== undefined) {
    return { profile, signedBy: null, trust };
  }
  const signaturePath = `${named.slice(0, -'.json'.length)}.sig.json`;
  let signature: ProfileSignature | undefined;
  try {
    await access(signaturePath);
    signature = parseProfileSignature(await readJsonFile(signaturePath, 'The profile signature'));
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw error;
  }
  return { profile, signedBy: trust(profile, signature), trust };
}

/**
 * A shipped profile by id, or a profile file `NAME.json` (`what`: the variable or option that
 * named it), parsed. Says which shipped ids exist when `named` is neither.
 */
export async function loadNamedProfile(named: string, what: string): Promise<PolicyProfile> {
  const shipped = (shippedProfiles as Record<string, PolicyProfile>)[named];
  if (shipped !== undefined) return shipped;
  if (!named.endsWith('.json')) {
    throw new LedgerError(
      'CONFIGURATION_INVALID',
      `${what} ${JSON.stringify(named)} is neither a shipped profile (${Object.keys(shippedProfiles).join(', ')}) nor a .json profile file.`,
    );
  }
  return parseProfile(await readJsonFile(named, what));
}
