import { readFile, writeFile } from 'node:fs/promises';
import { readJsonFile } from './json-file.ts';
import { loadConfig } from '../config.ts';
import { LedgerError } from '../errors.ts';
import { activatePolicy, policyMatrix } from '../policy/active-policy.ts';
import { parseProfile } from '../policy/profile.ts';
import { signProfile } from '../policy/profile-signature.ts';
import { loadPolicyConfig } from './policy-config.ts';

/**
 * `ledger policy show`: the profile `ledger serve` would run with this configuration
 * (LEDGER_POLICY_PROFILE, LEDGER_ENV, LEDGER_POLICY_MODE), checked as serve checks it, and its
 * rule x mode matrix and digest. Starts nothing and opens no store.
 */
export async function runPolicyShow(): Promise<void> {
  const config = loadConfig();
  const { profile, signedBy } = await loadPolicyConfig(config);
  const active = activatePolicy(profile, config.LEDGER_ENV, config.LEDGER_POLICY_MODE ?? null);
  const source = signedBy === null ? 'shipped, or unsigned' : `signed by ${signedBy}`;
  process.stdout.write(
    `${policyMatrix(active)}\n${profile.id}: ${profile.description} (${source})\n`,
  );
}

/**
 * `ledger policy sign --key PEM --key-id ID NAME.json`: signs a profile file (Ed25519, detached,
 * over its canonical JSON) and writes `NAME.sig.json` beside it.
 */
export async function runPolicySign(
  file: string,
  options: { key: string; keyId: string },
): Promise<void> {
  if (!file.endsWith('.json')) {
    throw new LedgerError('CONFIGURATION_INVALID', `A profile file is NAME.json, not ${file}.`);
  }
  const profile = parseProfile(await readJsonFile(file, 'The profile'));
  const signature = signProfile(profile, await readFile(options.key, 'utf8'));
  const out = `${file.slice(0, -'.json'.length)}.sig.json`;
  await writeFile(out, `${JSON.stringify({ key_id: options.keyId, signature }, null, 2)}\n`);
  process.stdout.write(`signed ${profile.id} with ${options.keyId}: ${out}\n`);
}
