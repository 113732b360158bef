import { createHash } from 'node:crypto';

/**
 * The deterministic workspace key of a VP session (seed 002 §1.1.4: `(vp_id, vp_session_id)` maps
 * to a deterministic workspace record): `ws_` followed by the first 24 hex characters (96 bits) of
 * the SHA-256 of `${vpId}\u0000${vpSessionId}`. The NUL separator cannot occur in either id's
 * meaning, so `("a.b", "c")` and `("a", "b.c")`-style splits never collide by concatenation.
 *
 * @example workspaceKey('vp.coder.primary', 'vps_1') // 'ws_' + 24 hex characters, always the same
 */
export function workspaceKey(vpId: string, vpSessionId: string): string {
  const digest = createHash('sha256').update(`${vpId}\u0000${vpSessionId}`, 'utf8').digest('hex');
  return `ws_${digest.slice(0, 24)}`;
}
