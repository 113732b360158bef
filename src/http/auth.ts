import { createHash, timingSafeEqual } from 'node:crypto';
import type { RequestHandler } from 'express';
import { z } from 'zod';
import type { Principal } from '../../schemas/index.ts';
import { LedgerError } from '../errors.ts';

/** Who made a request: the role its token grants and a stable id (a factory's instance id). */
export type { Principal };

/**
 * One entry of LEDGER_TOKENS_FILE. A factory token is bound to its instance id: it may post
 * events only for missions whose target_instance_id is that id.
 */
export const tokenEntrySchema = z.discriminatedUnion('role', [
  z.strictObject({
    token: z.string().min(16),
    role: z.literal('operator'),
    name: z.string().min(1).optional(),
  }),
  z.strictObject({
    token: z.string().min(16),
    role: z.literal('auditor'),
    name: z.string().min(1).optional(),
  }),
  z.strictObject({
    token: z.string().min(16),
    role: z.literal('factory'),
    instance_id: z.string().min(1),
    name: z.string().min(1).optional(),
  }),
]);
export const tokensFileSchema = z.array(tokenEntrySchema).min(1);
export type TokenEntry = z.infer<typeof tokenEntrySchema>;

interface KnownToken {
  digest: Buffer;
  principal: Principal;
}

const digest = (token: string) => createHash('sha256').update(token).digest();

/**
 * Bearer-token authentication. Tokens are kept only as SHA-256 digests and compared in constant
 * time against every entry (no early exit), so neither the comparison nor the lookup leaks how
 * much of a guess was right. Tokens never reach a log line.
 */
export class TokenAuthenticator {
  private readonly tokens: KnownToken[];

  constructor(entries: TokenEntry[]) {
    const seen = new Set<string>();
    this.tokens = entries.map((entry, index) => {
      const hex = digest(entry.token).toString('hex');
      if (seen.has(hex)) {
        throw new LedgerError(
          'CONFIGURATION_INVALID',
          `Token ${index} of the tokens file is a duplicate.`,
          { index },
        );
      }
      seen.add(hex);
      const id =
        entry.role === 'factory' ? entry.instance_id : (entry.name ?? `${entry.role}-${index}`);
      return { digest: digest(entry.token), principal: { role: entry.role, id } };
    });
  }

  /** The principal a presented token belongs to, or undefined. */
  authenticate(token: string): Principal | undefined {
    const presented = digest(token);
    let found: Principal | undefined;
    for (const known of this.tokens) {
      if (timingSafeEqual(known.digest, presented)) found = known.principal;
    }
    return found;
  }
}

declare module 'express-serve-static-core' {
  interface Request {
    principal?: Principal;
  }
}

export interface AuthenticateOptions {
  /**
   * The development tokens file `ledger serve` created or read (no LEDGER_TOKENS_FILE outside
   * production): named in every 401, so a developer learns where a token is. Never set in
   * production, where it would tell an attacker where to look.
   */
  devTokensFile?: string | undefined;
}

/**
 * Requires `Authorization: Bearer <token>` naming a known token: 401 UNAUTHENTICATED otherwise,
 * with `details.reason` saying which: `missing` (no header, or no token after Bearer), `scheme`
 * (another scheme, named in `details.scheme`; the credential is not looked at) or `unknown_token`.
 */
export function authenticate(
  authenticator: TokenAuthenticator,
  options: AuthenticateOptions = {},
): RequestHandler {
  const hint =
    options.devTokensFile === undefined ? {} : { dev_tokens_file: options.devTokensFile };
  const where =
    options.devTokensFile === undefined
      ? ''
      : ` Development tokens are in ${options.devTokensFile}.`;
  return (req, res, next) => {
    const header = req.headers.authorization;
    const [scheme = '', ...rest] = (header ?? '').trim().split(/\s+/);
    const bearer = scheme.toLowerCase() === 'bearer';
    const token = bearer && rest.length === 1 ? rest[0] : undefined;
    const principal = token === undefined ? undefined : authenticator.authenticate(token);
    if (principal === undefined) {
      res.setHeader('WWW-Authenticate', 'Bearer realm="mission-ledger"');
      if (scheme === '' || (bearer && rest.length === 0)) {
        throw new LedgerError('UNAUTHENTICATED', `A bearer token is required.${where}`, {
          reason: 'missing',
          ...hint,
        });
      }
      if (!bearer) {
        // The scheme is named only when a credential follows it (`Basic abc`): a lone word may
        // itself be a token sent without a scheme, and a token is never echoed.
        throw new LedgerError(
          'UNAUTHENTICATED',
          `The Authorization scheme must be Bearer ("Authorization: Bearer <token>").${where}`,
          { reason: 'scheme', scheme: rest.length > 0 ? scheme.slice(0, 32) : null, ...hint },
        );
      }
      throw new LedgerError('UNAUTHENTICATED', `The bearer token is not recognised.${where}`, {
        reason: 'unknown_token',
        ...hint,
      });
    }
    req.principal = principal;
    next();
  };
}

/** Requires one of `roles`: 403 FORBIDDEN otherwise. */
export function requireRole(...roles: Principal['role'][]): RequestHandler {
  return (req, _res, next) => {
    const role = req.principal?.role;
    if (role === undefined || !roles.includes(role)) {
      throw new LedgerError('FORBIDDEN', `This route needs the role ${roles.join(' or ')}.`, {
        role: role ?? null,
        allowed: roles,
      });
    }
    next();
  };
}

/** The principal of an authenticated request (the auth middleware ran before the handler). */
export function principalOf(req: { principal?: Principal }): Principal {
  if (req.principal === undefined) throw new LedgerError('UNAUTHENTICATED');
  return req.principal;
}
