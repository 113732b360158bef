import type { Readable } from 'node:stream';
import { KEYS_STREAM } from '../../schemas/streams.ts';
import type { TraceLine } from '../../schemas/trace.ts';
import type { PolicyInForce } from '../domain/mission/index.ts';
import { isLedgerError } from '../errors.ts';
import type { CommandOutcome } from '../ledger/command-handler.ts';
import { KeyRegistry } from '../ledger/key-registry.ts';
import { KeyRingCache } from '../ledger/key-ring-cache.ts';
import { MissionLedger } from '../ledger/mission-ledger.ts';
import type { RejectionLimits } from '../ledger/rejection-budget.ts';
import type { ActivePolicy } from '../policy/active-policy.ts';
import type { EventStore, StoredEvent } from '../store/port.ts';
import { LogDigest } from './log-digest.ts';
import { ReportTally, type SimulatedInput, type SimulationReport } from './report.ts';
import { SimulationStore } from './simulation-store.ts';
import { readTrace } from './trace-reader.ts';

export interface SimulationOptions {
  /** The JSONL trace, read line by line. */
  trace: Readable;
  /** The policy held in force for the whole run (profile, environment, override). */
  policy: ActivePolicy;
  /** Called after each input with the number of inputs simulated so far. */
  onInput?: (inputs: number) => void;
  /**
   * Where the simulated log lives (the report is the same either way): `spill` (the default)
   * keeps `ledger-keys` in memory and writes every other stream to a scratch file, while the
   * command handler keeps at most `foldCacheSize` folds (default 10,000) and reads a mission
   * whose fold it does not hold back from the file, so memory stays bounded whatever the trace's
   * length; `memory`
   * keeps every event in memory.
   */
  log?: { keep: 'spill' | 'memory'; foldCacheSize?: number };
}

/**
 * The rejection budget is an abuse guard of a serving process, not a policy: a simulation asks
 * what the policy decides of every input, so it never refuses one for its sender's rate.
 */
const UNLIMITED: RejectionLimits = {
  perMinute: Number.MAX_SAFE_INTEGER,
  bytesPerMinute: Number.MAX_SAFE_INTEGER,
};

/**
 * Runs a trace through the real command path (MissionLedger and KeyRegistry) on a fresh
 * {@link SimulationStore}, one line at a time, and reports what it decided.
 *
 * - The clock is the trace's: `now` is the current line's `received_at`, also for store stamps.
 * - VP session ids are `vps_sim_<seq>` of the dispatch line.
 * - The policy given is in force throughout; `policy.activate` lines are `skipped`.
 * - The key ring is what the trace's `key.register` / `key.revoke` lines made it, through the
 *   KeyRegistry on the same store.
 *
 * Same trace and policy give the same report, byte for byte ({@link reportJson}). Throws a
 * TraceLineError naming the line of a bad line.
 */
export async function simulate(options: SimulationOptions): Promise<SimulationReport> {
  const { policy } = options;
  let current: TraceLine | undefined;
  const now = () => {
    if (current === undefined) throw new Error('simulation clock read before the first line');
    return new Date(current.received_at);
  };
  const digest = new LogDigest();
  let appended: StoredEvent[] = [];
  const log = options.log ?? { keep: 'spill' };
  const store = new SimulationStore({
    keeps: (stream) => log.keep === 'memory' || stream === KEYS_STREAM,
    now,
    onAppended: (events) => {
      for (const event of events) {
        digest.add(event);
        appended.push(event);
      }
    },
  });
  const ring = new KeyRingCache({ store });
  const inForce = (): PolicyInForce => ({ active: policy, keys: ring.current() });
  const missions = new MissionLedger({
    store,
    now,
    newId: () => `vps_sim_${current?.seq ?? 0}`,
    policy: inForce,
    rejectionLimits: UNLIMITED,
    ...(log.foldCacheSize === undefined ? {} : { cacheSize: log.foldCacheSize }),
  });
  const keys = new KeyRegistry({ store, now, cache: ring, rejectionLimits: UNLIMITED });
  const tally = new ReportTally();
  try {
    for await (const line of readTrace(options.trace)) {
      current = line;
      appended = [];
      const outcome = await run(line, missions, keys);
      tally.add(line, await simulated(outcome, appended, store));
      options.onInput?.(line.seq);
    }
  } finally {
    await store.close();
  }
  return tally.report(policy, { events: digest.events, sha256: digest.hex() });
}

/** One input through the route it came by; a LedgerError the ledger throws is its rejection. */
async function run(
  line: TraceLine,
  missions: MissionLedger,
  keys: KeyRegistry,
): Promise<CommandOutcome | 'skipped' | { thrown: string }> {
  const { principal, headers, body } = line;
  const target = line.target ?? '';
  const signature = headers['ledger-signature'];
  const key = headers['idempotency-key'];
  try {
    switch (line.kind) {
      case 'dispatch':
        return await missions.dispatch(body, principal, signature);
      case 'callback':
        return await missions.callback(target, body, principal, signature);
      case 'cancel':
        return await missions.cancel(target, body, key, principal);
      case 'key.register':
        return await keys.register(body, key, principal);
      case 'key.revoke':
        return await keys.revoke(target, body, key, principal);
      case 'policy.activate':
        return 'skipped';
    }
  } catch (error) {
    if (isLedgerError(error)) return { thrown: error.code };
    throw error;
  }
}

async function simulated(
  outcome: CommandOutcome | 'skipped' | { thrown: string },
  appended: readonly StoredEvent[],
  store: EventStore,
): Promise<SimulatedInput> {
  if (outcome === 'skipped') return { outcome: 'skipped', reasons: [], findings: [] };
  if ('thrown' in outcome) return { outcome: 'rejected', reasons: [outcome.thrown], findings: [] };
  const findings = decisionFindings(appended);
  if (outcome.outcome !== 'rejected') return { outcome: outcome.outcome, reasons: [], findings };
  return { outcome: 'rejected', reasons: await recordedCodes(outcome, appended, store), findings };
}

/**
 * The reason codes of a rejection as the log records them (as `ledger trace export` states
 * them), which can differ from the answer: a factory posting for another's mission is recorded
 * FORBIDDEN_INSTANCE and answered MISSION_NOT_FOUND. A replayed rejection has the original's.
 */
async function recordedCodes(
  outcome: Extract<CommandOutcome, { outcome: 'rejected' }>,
  appended: readonly StoredEvent[],
  store: EventStore,
): Promise<string[]> {
  const { stream, revision, position } = outcome.recorded;
  const event =
    appended.find((e) => e.position === position) ??
    (await store.readStream(stream, { fromRevision: revision, limit: 1 }))[0];
  const stored = (event?.data as { reasons?: { code: string }[] } | undefined)?.reasons;
  return (stored ?? outcome.reasons).map((r) => r.code);
}

/** The findings of the policy decision the input's events record (the first that carries one). */
function decisionFindings(events: readonly StoredEvent[]): SimulatedInput['findings'] {
  for (const event of events) {
    const decision = (event.data as { policy?: unknown }).policy;
    if (typeof decision !== 'object' || decision === null || !('findings' in decision)) continue;
    const { findings } = decision as { findings: SimulatedInput['findings'] };
    return findings.map(({ rule, code, mode, effect }) => ({ rule, code, mode, effect }));
  }
  return [];
}
