import { randomUUID } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { sql } from 'kysely';
import pg from 'pg';
import { missionStream } from '../schemas/streams.ts';
import { workspaceKey } from '../src/domain/mission/workspace.ts';
import { activatePolicy } from '../src/policy/active-policy.ts';
import { initialKeyRegistryState, keyRingFromState } from '../src/domain/signing-keys/index.ts';
import { shippedProfiles } from '../src/policy/shipped-profiles.ts';
import { MissionLedger } from '../src/ledger/mission-ledger.ts';
import { openStore } from '../src/store/open-store.ts';
import type { SqlEventStore } from '../src/store/sql/sql-store.ts';

/** A stored row as the events table holds it (data and metadata as JSON text). */
interface Row {
  stream_id: string;
  revision: number;
  type: string;
  data: string;
  metadata: string;
  idempotency_key: string | null;
}

interface Template {
  missionId: string;
  sessionId: string;
  workspace: string;
  rows: Row[];
}

const VP_ID = 'vp.coder.primary';
const TYPES = ['coding', 'research', 'automation', 'custom'] as const;
/** Distinct VP sessions the seeded missions are spread over. */
const SESSIONS = 1_000;

/**
 * One mission of each ending through the real command path (on PGlite in memory): dispatch,
 * accepted, two progress reports, a rejected report for every third, then completed (with an
 * artifact), failed, blocked, timed out, cancelled (after a cancel request), or still running.
 */
async function templates(): Promise<Template[]> {
  const dispatchExample = JSON.parse(
    await readFile(new URL('../fixtures/mission-dispatch.example.json', import.meta.url), 'utf8'),
  ) as Record<string, unknown>;
  const store = await openStore('pglite:memory');
  const policy = {
    active: activatePolicy(shippedProfiles.development, 'development', null),
    keys: keyRingFromState(initialKeyRegistryState()),
  };
  let clock = Date.parse('2026-11-01T00:00:00.000Z');
  const ledger = new MissionLedger({
    store,
    now: () => new Date((clock += 37_000)),
    newId: () => `vps_${randomUUID()}`,
    // What `ledger serve` decides with when nothing is configured, in development.
    policy: () => policy,
  });
  const operator = { role: 'operator', id: 'bench' } as const;
  const factory = { role: 'factory', id: 'ua-factory-07' } as const;
  const out: Template[] = [];
  for (let variant = 0; variant < 6; variant += 1) {
    const missionId = `msn_tpl${variant}x`;
    const sessionId = `vps_tpl${variant}x`;
    const dispatch = {
      ...dispatchExample,
      mission_id: missionId,
      vp_session_id: sessionId,
      mission_type: TYPES[variant % TYPES.length],
      idempotency_key: `dispatch:${missionId}`,
    };
    const dispatched = await ledger.dispatch(dispatch, operator);
    if (dispatched.outcome !== 'accepted') throw new Error(`bench dispatch ${dispatched.outcome}`);
    let n = 0;
    const report = async (event_type: string, status: string, step: number, final = false) => {
      n += 1;
      const outcome = await ledger.callback(
        missionId,
        {
          mission_id: missionId,
          vp_id: VP_ID,
          vp_session_id: sessionId,
          vp_runtime_id: dispatchExample.vp_runtime_id,
          event_type,
          status,
          summary: `${event_type}: step ${step} of the bench mission, with a realistic summary.`,
          artifact_refs: step > 2 ? [`s3://factory-a/${missionId}/patch-${step}.diff`] : [],
          usage: {
            runtime_minutes: step * 3,
            llm_calls: step * 7,
            estimated_cost_usd: step * 0.25,
          },
          trace_id: dispatchExample.trace_id,
          idempotency_key: `event:${missionId}:${n}`,
          emitted_at: new Date(clock).toISOString(),
          ...(final
            ? {
                artifact_index: [{ ref: 'artifact://summary.md', description: 'Summary' }],
                next_action: 'Review the summary and merge the patch.',
              }
            : {}),
        },
        factory,
      );
      // Only the deliberately late report (step 1 again: usage decreased) is rejected.
      if (outcome.outcome === 'rejected' && step !== 1)
        throw new Error(`bench report rejected: ${outcome.reasons[0]?.code}`);
    };
    await report('mission.accepted', 'running', 1);
    await report('mission.progress', 'running', 2);
    await report('mission.progress', 'running', 3);
    if (variant % 3 === 0) await report('mission.progress', 'running', 1);
    switch (variant) {
      case 0:
        await report('mission.artifact', 'running', 4);
        await report('mission.completed', 'completed', 5, true);
        break;
      case 1:
        await report('mission.failed', 'failed', 4, true);
        break;
      case 2:
        await report('mission.blocked', 'blocked', 4);
        break;
      case 3:
        await report('mission.timed_out', 'timed_out', 9, true);
        break;
      case 4:
        await ledger.cancel(
          missionId,
          { reason: 'Bench cancel.' },
          `cancel:${missionId}`,
          operator,
        );
        await report('mission.cancelled', 'cancelled', 4, true);
        break;
      default:
        break;
    }
    out.push({ missionId, sessionId, workspace: workspaceKey(VP_ID, sessionId), rows: [] });
  }
  const db = (store as SqlEventStore).database;
  const { rows } = await sql<Row>`
    select stream_id, revision, type, data::text as data, metadata::text as metadata, idempotency_key
      from ledger.events order by position`.execute(db);
  await store.close();
  for (const row of rows) {
    const owner = out.find(
      (t) => row.stream_id === missionStream(t.missionId) || row.data.includes(`"${t.missionId}"`),
    );
    if (owner === undefined) throw new Error(`template event of no mission: ${row.type}`);
    owner.rows.push(row);
  }
  return out;
}

/**
 * Seeds `events` events into the PostgreSQL store at `url` (already migrated, empty): copies of
 * the template missions with their own ids, spread over {@link SESSIONS} VP sessions, interleaved
 * 500 missions at a time as concurrent missions would be. Written with raw bulk INSERTs: seeding
 * is not what is measured.
 */
export async function seedLog(connectionString: string, schema: string, events: number) {
  const tpl = await templates();
  const client = new pg.Client({ connectionString });
  await client.connect();
  const revisions = new Map<string, number>();
  let position = 0;
  let batch: unknown[][] = [[], [], [], [], [], [], [], []];
  const flush = async () => {
    if (batch[0]!.length === 0) return;
    await client.query(
      `insert into "${schema}".events
         (position, event_id, stream_id, revision, type, data, metadata, idempotency_key)
       select * from unnest($1::int8[], $2::uuid[], $3::text[], $4::int8[], $5::text[],
                            $6::json[], $7::json[], $8::text[])`,
      batch,
    );
    batch = [[], [], [], [], [], [], [], []];
  };
  const WINDOW = 500;
  try {
    for (let first = 0; position < events; first += WINDOW) {
      const missions = Array.from({ length: WINDOW }, (_, i) => {
        const k = first + i;
        const t = tpl[k % tpl.length]!;
        const id = `msn_b${k.toString(36).padStart(6, '0')}`;
        const session = `vps_bench${k % SESSIONS}`;
        const swap = (text: string) =>
          text
            .replaceAll(t.missionId, id)
            .replaceAll(t.sessionId, session)
            .replaceAll(t.workspace, workspaceKey(VP_ID, session));
        return t.rows.map((row) => ({ ...row, swap }));
      });
      const longest = Math.max(...missions.map((m) => m.length));
      for (let step = 0; step < longest && position < events; step += 1) {
        for (const mission of missions) {
          const row = mission[step];
          if (row === undefined || position >= events) continue;
          const stream = row.swap(row.stream_id);
          const revision = revisions.get(stream) ?? 0;
          revisions.set(stream, revision + 1);
          position += 1;
          const values = [
            position,
            randomUUID(),
            stream,
            revision,
            row.type,
            row.swap(row.data),
            row.swap(row.metadata),
            row.idempotency_key === null ? null : row.swap(row.idempotency_key),
          ];
          values.forEach((v, i) => batch[i]!.push(v));
          if (batch[0]!.length >= 5_000) await flush();
        }
      }
    }
    await flush();
    await client.query(`update "${schema}".head set position = $1 where id = 1`, [position]);
    await client.query(`analyze "${schema}".events`);
  } finally {
    await client.end();
  }
  return position;
}
