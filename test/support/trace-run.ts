import type { TraceLine } from '../../schemas/trace.ts';
import type { Environment } from '../../schemas/index.ts';
import { KeyRegistry } from '../../src/ledger/key-registry.ts';
import { KeyRingCache } from '../../src/ledger/key-ring-cache.ts';
import { MissionLedger } from '../../src/ledger/mission-ledger.ts';
import type { CommandOutcome } from '../../src/ledger/command-handler.ts';
import { activatePolicy } from '../../src/policy/active-policy.ts';
import { shippedProfiles, type ShippedProfileId } from '../../src/policy/shipped-profiles.ts';
import { openMemoryStore } from '../../src/store/memory/memory-store.ts';

const UNLIMITED = { perMinute: Number.MAX_SAFE_INTEGER, bytesPerMinute: Number.MAX_SAFE_INTEGER };

/** What the real command path made of one line: its outcome and the reason codes the log records. */
export interface Decided {
  seq: number;
  outcome: 'accepted' | 'rejected' | 'duplicate';
  reasons: string[];
}

/**
 * Runs trace lines through the real MissionLedger and KeyRegistry on a fresh in-memory store,
 * with the trace's clock, under one shipped profile. A rejection's codes are read from the event
 * that records it (for a replayed rejection, the original's): the log's account, as an export
 * writes it, not the answer a sender gets (a foreign factory is answered MISSION_NOT_FOUND but
 * recorded FORBIDDEN_INSTANCE).
 */
export async function decideTrace(
  lines: Iterable<TraceLine>,
  profile: ShippedProfileId,
  environment: Environment,
): Promise<Decided[]> {
  let now = new Date(0);
  const store = openMemoryStore({ now: () => now });
  const ring = new KeyRingCache({ store });
  const active = activatePolicy(shippedProfiles[profile], environment, null);
  const missions = new MissionLedger({
    store,
    now: () => now,
    newId: () => 'vps_unused',
    policy: () => ({ active, keys: ring.current() }),
    rejectionLimits: UNLIMITED,
  });
  const keys = new KeyRegistry({ store, now: () => now, cache: ring, rejectionLimits: UNLIMITED });
  const decided: Decided[] = [];
  try {
    for (const line of lines) {
      now = new Date(line.received_at);
      const key = line.headers['idempotency-key'];
      const signature = line.headers['ledger-signature'];
      const target = line.target ?? '';
      let outcome: CommandOutcome;
      switch (line.kind) {
        case 'dispatch':
          outcome = await missions.dispatch(line.body, line.principal, signature);
          break;
        case 'callback':
          outcome = await missions.callback(target, line.body, line.principal, signature);
          break;
        case 'cancel':
          outcome = await missions.cancel(target, line.body, key, line.principal);
          break;
        case 'key.register':
          outcome = await keys.register(line.body, key, line.principal);
          break;
        case 'key.revoke':
          outcome = await keys.revoke(target, line.body, key, line.principal);
          break;
        case 'policy.activate':
          throw new Error('decideTrace does not switch policies');
      }
      if (outcome.outcome !== 'rejected') {
        decided.push({ seq: line.seq, outcome: outcome.outcome, reasons: [] });
        continue;
      }
      const [event] = await store.readAll({ after: outcome.recorded.position - 1, limit: 1 });
      const reasons = (event?.data as { reasons?: { code: string }[] } | undefined)?.reasons ?? [];
      decided.push({ seq: line.seq, outcome: 'rejected', reasons: reasons.map((r) => r.code) });
    }
  } finally {
    await store.close();
  }
  return decided;
}
