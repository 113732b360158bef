import { generateKeyPairSync } from 'node:crypto';
import { writeFile } from 'node:fs/promises';
import { z } from 'zod';
import { LedgerError } from '../errors.ts';
import { openClient, type ClientOptions } from './api-client.ts';

/** The answer to a registration or revocation. */
const keyCommandResultSchema = z.looseObject({
  key_id: z.string(),
  revision: z.number(),
  position: z.number(),
  duplicate: z.boolean(),
});

const text = z.string().nullable();
/** A key as `GET /v1/keys` lists it; only what the table prints is required. */
const keyViewSchema = z.looseObject({
  key_id: z.string(),
  owner: z.string(),
  status: z.string(),
  not_before: z.string(),
  not_after: text,
  revoked_at: text,
});
type KeyView = z.infer<typeof keyViewSchema>;
const keyPageSchema = z.looseObject({
  keys: z.array(keyViewSchema),
  next_cursor: z.string().nullable(),
});

export interface KeysGenerateOptions {
  out: string;
}

/**
 * `ledger keys generate --out FILE`: a new Ed25519 key pair. The private key is written as PKCS#8
 * PEM, readable by its owner only, and never over an existing file; the public key is printed as
 * base64url (a JWK `x`), what `ledger keys add --public-key` takes. Runs offline.
 */
export async function runKeysGenerate(options: KeysGenerateOptions): Promise<void> {
  const { privateKey, publicKey } = generateKeyPairSync('ed25519');
  const pem = privateKey.export({ format: 'pem', type: 'pkcs8' });
  try {
    await writeFile(options.out, pem, { mode: 0o600, flag: 'wx' });
  } catch (error) {
    const code = (error as { code?: unknown }).code;
    throw new LedgerError(
      'CONFIGURATION_INVALID',
      code === 'EEXIST'
        ? `${options.out} exists: a private key is never overwritten; choose another --out.`
        : `Cannot write ${options.out}: ${error instanceof Error ? error.message : String(error)}`,
      { path: options.out },
    );
  }
  process.stdout.write(`${publicKey.export({ format: 'jwk' }).x}\n`);
  process.stderr.write(`private key written to ${options.out} (mode 0600)\n`);
}

export interface KeysAddOptions extends ClientOptions {
  id: string;
  owner: string;
  publicKey: string;
  notBefore?: string;
  notAfter?: string;
}

/** `ledger keys add`: registers a key through the running server (`POST /v1/keys`). */
export async function runKeysAdd(options: KeysAddOptions): Promise<void> {
  const client = await openClient(options);
  const result = await client.post(
    '/keys',
    {
      key_id: options.id,
      owner: options.owner,
      public_key: options.publicKey,
      ...(options.notBefore === undefined ? {} : { not_before: options.notBefore }),
      ...(options.notAfter === undefined ? {} : { not_after: options.notAfter }),
    },
    keyCommandResultSchema,
  );
  process.stdout.write(
    `${result.duplicate ? 'already registered' : 'registered'} ${result.key_id} at position ${result.position}\n`,
  );
}

export interface KeysRevokeOptions extends ClientOptions {
  reason: string;
}

/** `ledger keys revoke ID --reason TEXT` through the running server. */
export async function runKeysRevoke(id: string, options: KeysRevokeOptions): Promise<void> {
  const client = await openClient(options);
  const result = await client.post(
    `/keys/${encodeURIComponent(id)}/revoke`,
    { reason: options.reason },
    keyCommandResultSchema,
  );
  process.stdout.write(
    `${result.duplicate ? 'already revoked' : 'revoked'} ${result.key_id} at position ${result.position}\n`,
  );
}

export interface KeysListOptions extends ClientOptions {
  limit?: string;
  cursor?: string;
  json?: boolean;
}

/** `ledger keys list`: one page of keys, in key id order. */
export async function runKeysList(options: KeysListOptions): Promise<void> {
  const client = await openClient(options);
  const page = await client.get(
    '/keys',
    { limit: options.limit, cursor: options.cursor },
    keyPageSchema,
  );
  if (options.json === true) {
    process.stdout.write(`${JSON.stringify(page, null, 2)}\n`);
    return;
  }
  process.stdout.write(formatKeyList(page.keys));
  if (page.next_cursor !== null)
    process.stderr.write(`more keys: add --cursor ${page.next_cursor}\n`);
}

/** Keys as a table, one line each. */
export function formatKeyList(keys: readonly KeyView[]): string {
  if (keys.length === 0) return 'no keys\n';
  const rows = [
    ['KEY', 'OWNER', 'STATUS', 'NOT BEFORE', 'NOT AFTER', 'REVOKED AT'],
    ...keys.map((k) => [
      k.key_id,
      k.owner,
      k.status,
      k.not_before,
      k.not_after ?? '-',
      k.revoked_at ?? '-',
    ]),
  ];
  const widths = rows[0]!.map((_, i) => Math.max(...rows.map((r) => r[i]!.length)));
  return rows
    .map((r) =>
      r
        .map((cell, i) => cell.padEnd(widths[i]!))
        .join('  ')
        .trimEnd(),
    )
    .join('\n')
    .concat('\n');
}
