import { sql, type Kysely, type RawBuilder, type Transaction } from 'kysely';
import type { ApprovalQueueRow } from '../../projections/approval-queue.ts';
import type { BudgetRow } from '../../projections/budgets.ts';
import type {
  MissionOutcomeRow,
  MissionStatusCountRow,
  RejectionCountRow,
} from '../../projections/mission-health.ts';
import type { MissionDispatchRow, MissionStateRow } from '../../projections/mission-state.ts';
import { rowKey } from '../../projections/projection.ts';
import type { VpSessionMissionRow, VpSessionRow } from '../../projections/vp-sessions.ts';
import type { MissionStatus, MissionType } from '../../schemas/index.ts';
import { decodedValue, storedKey, storedText } from './stored-text.ts';

/*
 * The read API's SQL over the projections' key/jsonb tables (`read-model-tables.ts`). Every query
 * runs in one REPEATABLE READ transaction with the read of its projection's checkpoint, so
 * `as_of_position` names exactly the log prefix the rows were folded from.
 */

/** The part of `ReadModels` the queries need (a structural port, so tests may pass their own). */
export interface ReadModelTables {
  readonly db: Kysely<unknown>;
  readonly schema: string;
  /** The schema-qualified SQL table of `table` of projection `projection`. */
  table(projection: string, table: string): RawBuilder<unknown>;
}

/** Rows read together with the checkpoint position they reflect. */
export interface AsOf<T> {
  /** The projection's checkpoint in the same snapshot: every event up to it is in `result`. */
  as_of_position: number;
  result: T;
}

/** A keyset position: the sort column's value and the row key of the last row of a page. */
export interface Keyset {
  sort: string;
  key: string;
}

/** A page of rows; `more` is true when rows follow the last one. */
export interface Page<Row> {
  rows: Row[];
  more: boolean;
}

/**
 * Runs `read` and the read of `projection`'s checkpoint in one REPEATABLE READ snapshot: the engine
 * commits its rows and its checkpoint together, so both reads see the same batches.
 */
export async function atCheckpoint<T>(
  models: ReadModelTables,
  projection: string,
  read: (trx: Transaction<unknown>) => Promise<T>,
): Promise<AsOf<T>> {
  return models.db
    .transaction()
    .setIsolationLevel('repeatable read')
    .execute(async (trx) => {
      const { rows } = await sql<{ position: string | number }>`
        select position from ${sql.id(models.schema, 'projection_checkpoints')}
         where name = ${projection}`.execute(trx);
      // Rows as the log holds them: strings the tables store escaped are decoded.
      const result = decodedValue(await read(trx));
      return { as_of_position: Number(rows[0]?.position ?? 0), result };
    });
}

/** Fetches one row more than `limit` to learn whether another page follows. */
function paged<Row>(rows: Row[], limit: number): Page<Row> {
  return { rows: rows.slice(0, limit), more: rows.length > limit };
}

/** The filters of the mission list; absent ones do not restrict. */
export interface MissionFilter {
  status?: MissionStatus;
  mission_type?: MissionType;
  vp_id?: string;
}

/**
 * A page of `mission_state` rows, newest dispatch first (`dispatched_at` desc, then key desc),
 * strictly after `after`. The expressions are spelled exactly as the projection's indexes
 * (`(row->>'col')`, then `key`) so the planner serves filter, order and keyset from one index.
 */
export async function listMissions(
  models: ReadModelTables,
  filter: MissionFilter,
  page: { limit: number; after?: Keyset },
): Promise<AsOf<Page<{ row: MissionStateRow; dispatch: MissionDispatchRow }>>> {
  const table = models.table('mission_state', 'mission_state');
  const dispatches = models.table('mission_state', 'mission_dispatches');
  const where: RawBuilder<unknown>[] = [];
  for (const column of ['status', 'mission_type', 'vp_id'] as const) {
    const value = filter[column];
    if (value !== undefined) where.push(sql`(row->>${sql.lit(column)}) = ${storedText(value)}`);
  }
  if (page.after !== undefined) {
    const { sort, key } = page.after;
    where.push(sql`((row->>'dispatched_at'), key) < (${storedText(sort)}, ${storedKey(key)})`);
  }
  const condition = where.length === 0 ? sql`true` : sql.join(where, sql` and `);
  return atCheckpoint(models, 'mission_state', async (trx) => {
    // The page from the state table's index, then each mission's dispatch by key.
    const { rows } = await sql<{ row: MissionStateRow; dispatch: MissionDispatchRow }>`
      select s.row, d.row as dispatch
        from (select key, row from ${table}
               where ${condition}
               order by (row->>'dispatched_at') desc, key desc
               limit ${page.limit + 1}) s
        join ${dispatches} d on d.key = s.key
       order by (s.row->>'dispatched_at') desc, s.key desc`.execute(trx);
    return paged(rows, page.limit);
  });
}

/** The `budgets` row of a mission; `undefined` when the projection has none. */
export async function missionBudget(
  models: ReadModelTables,
  missionId: string,
): Promise<AsOf<BudgetRow | undefined>> {
  const table = models.table('budgets', 'budgets');
  return atCheckpoint(models, 'budgets', async (trx) => {
    const { rows } = await sql<{ row: BudgetRow }>`
      select row from ${table} where key = ${storedKey(missionId)}`.execute(trx);
    return rows[0]?.row;
  });
}

/** A VP session's registry record: its row and its missions in the order they were bound. */
export async function vpSession(
  models: ReadModelTables,
  vpId: string,
  vpSessionId: string,
): Promise<AsOf<{ session: VpSessionRow; missions: VpSessionMissionRow[] } | undefined>> {
  const sessions = models.table('vp_sessions', 'vp_sessions');
  const bindings = models.table('vp_sessions', 'vp_session_missions');
  return atCheckpoint(models, 'vp_sessions', async (trx) => {
    const { rows } = await sql<{ row: VpSessionRow }>`
      select row from ${sessions} where key = ${storedKey(rowKey(vpId, vpSessionId))}`.execute(trx);
    const session = rows[0]?.row;
    if (session === undefined) return undefined;
    const missions = await sql<{ row: VpSessionMissionRow }>`
      select row from ${bindings}
       where (row->>'workspace_key') = ${session.workspace_key}
       order by (row->>'bound_at'), (row->>'position')::bigint`.execute(trx);
    return { session, missions: missions.rows.map((r) => r.row) };
  });
}

/** A page of the approval queue, longest blocked first (`since` asc, then key asc). */
export async function listApprovals(
  models: ReadModelTables,
  page: { limit: number; after?: Keyset },
): Promise<AsOf<Page<ApprovalQueueRow>>> {
  const table = models.table('approval_queue', 'approval_queue');
  const after =
    page.after === undefined
      ? sql`true`
      : sql`((row->>'since'), key) > (${storedText(page.after.sort)}, ${storedKey(page.after.key)})`;
  return atCheckpoint(models, 'approval_queue', async (trx) => {
    const { rows } = await sql<{ row: ApprovalQueueRow }>`
      select row from ${table}
       where ${after}
       order by (row->>'since'), key
       limit ${page.limit + 1}`.execute(trx);
    return paged(
      rows.map((r) => r.row),
      page.limit,
    );
  });
}

/** An outcome window: the hours it spans and the first UTC hour it counts (`utcHour` format). */
export interface OutcomeWindow {
  hours: number;
  since: string;
}

/** One window's outcome counts for one mission type. */
export type WindowOutcomes = Omit<MissionOutcomeRow, 'hour'> & { hours: number };

/** What the mission-health dashboard is made of, all from one `mission_health` snapshot. */
export interface MissionHealthTables {
  status_counts: MissionStatusCountRow[];
  /** Per window and mission type with at least one outcome row in the window. */
  outcomes: WindowOutcomes[];
  rejections: RejectionCountRow[];
}

/**
 * The `mission_health` tables for the dashboard. Outcome rows are summed per window: a window
 * counts the rows whose `hour` is at or after its `since` (hours are fixed-width ISO strings, so
 * text order is time order).
 */
export async function missionHealth(
  models: ReadModelTables,
  windows: readonly OutcomeWindow[],
): Promise<AsOf<MissionHealthTables>> {
  const counts = models.table('mission_health', 'mission_health_status_counts');
  const outcomes = models.table('mission_health', 'mission_health_outcomes');
  const rejections = models.table('mission_health', 'mission_health_rejections');
  const hours = windows.map((w) => w.hours);
  const since = windows.map((w) => w.since);
  const total = (column: string) =>
    sql<string>`coalesce(sum((o.row->>${sql.lit(column)})::int8), 0)`;
  return atCheckpoint(models, 'mission_health', async (trx) => {
    const status = await sql<{ row: MissionStatusCountRow }>`
      select row from ${counts}
       order by (row->>'mission_type') collate "C", (row->>'status') collate "C"`.execute(trx);
    const summed = await sql<{
      hours: number;
      mission_type: MissionType;
      completed: string;
      failed: string;
      cancelled: string;
      timed_out: string;
    }>`
      select w.hours, o.row->>'mission_type' as mission_type,
             ${total('completed')} as completed, ${total('failed')} as failed,
             ${total('cancelled')} as cancelled, ${total('timed_out')} as timed_out
        from ${outcomes} o
        join unnest(${hours}::int4[], ${since}::text[]) as w(hours, since)
          on (o.row->>'hour') collate "C" >= w.since collate "C"
       group by w.hours, o.row->>'mission_type'
       order by w.hours, (o.row->>'mission_type') collate "C"`.execute(trx);
    const rejected = await sql<{ row: RejectionCountRow }>`
      select row from ${rejections}
       order by (row->>'rejected_type') collate "C", (row->>'reason_code') collate "C"`.execute(
      trx,
    );
    return {
      status_counts: status.rows.map((r) => r.row),
      outcomes: summed.rows.map((r) => ({
        hours: Number(r.hours),
        mission_type: r.mission_type,
        completed: Number(r.completed),
        failed: Number(r.failed),
        cancelled: Number(r.cancelled),
        timed_out: Number(r.timed_out),
      })),
      rejections: rejected.rows.map((r) => r.row),
    };
  });
}

/** Blocks, warnings and shadow verdicts of one rule and reason code in one window. */
export interface PolicyRuleCounts {
  rule: string;
  code: string;
  blocks: number;
  warnings: number;
  shadow_verdicts: number;
}

/** What the policy dashboard is made of for one window, all from one `policy_decisions` snapshot. */
export interface PolicyWindowCounts {
  hours: number;
  /** Every (rule, code) with a finding in the window, by rule then code. */
  rules: PolicyRuleCounts[];
  /** Senders with at least one block in the window, most blocks first, at most `top`. */
  top_factories: { factory: string; blocks: number }[];
  /** Every profile that decided an input in the window, by id. */
  profiles: { profile_id: string; decided: number; rejected: number }[];
}

/**
 * The `policy_decisions` tables for the policy dashboard, summed per window as
 * {@link missionHealth} sums outcomes: a window counts the hour rows at or after its `since`.
 * `top` bounds the factories listed per window (ties by factory id, byte order).
 */
export async function policyDashboard(
  models: ReadModelTables,
  options: { windows: readonly OutcomeWindow[]; top: number },
): Promise<AsOf<PolicyWindowCounts[]>> {
  const findings = models.table('policy_decisions', 'policy_decisions_findings');
  const inputs = models.table('policy_decisions', 'policy_decisions_inputs');
  const { windows, top } = options;
  const hours = windows.map((w) => w.hours);
  const since = windows.map((w) => w.since);
  const oldest = since.reduce((a, b) => (b < a ? b : a), since[0] ?? '');
  // The rows of the widest window, through the `hour` index (declared without a collation, so
  // compared in the database's): hours are fixed-width ISO strings, which every collation orders
  // as time. Each window then takes its own rows in byte order, as missionHealth does.
  const inWindows = (table: RawBuilder<unknown>) => sql`
    (select row from ${table} where (row->>'hour') >= ${oldest}) r
    join unnest(${hours}::int4[], ${since}::text[]) as w(hours, since)
      on (r.row->>'hour') collate "C" >= w.since collate "C"`;
  const sumOf = (column: string) => sql`sum((r.row->>${sql.lit(column)})::int8)`;
  const effect = (value: string) =>
    sql<string>`coalesce(${sumOf('findings')} filter (where r.row->>'effect' = ${sql.lit(value)}), 0)`;
  return atCheckpoint(models, 'policy_decisions', async (trx) => {
    const rules = await sql<{
      hours: number;
      rule: string;
      code: string;
      blocks: string;
      warnings: string;
      shadow_verdicts: string;
    }>`
      select w.hours, r.row->>'rule' as rule, r.row->>'code' as code,
             ${effect('rejected')} as blocks, ${effect('warned')} as warnings,
             ${effect('shadowed')} as shadow_verdicts
        from ${inWindows(findings)}
       group by w.hours, r.row->>'rule', r.row->>'code'
       order by w.hours, (r.row->>'rule') collate "C", (r.row->>'code') collate "C"`.execute(trx);
    const factories = await sql<{ hours: number; factory: string; blocks: string }>`
      select hours, factory, blocks from (
        select w.hours, r.row->>'factory' as factory, ${sumOf('findings')} as blocks,
               row_number() over (
                 partition by w.hours
                 order by ${sumOf('findings')} desc, (r.row->>'factory') collate "C") as rank
          from ${inWindows(findings)}
         where r.row->>'effect' = 'rejected'
         group by w.hours, r.row->>'factory') ranked
       where rank <= ${top}
       order by hours, rank`.execute(trx);
    const profiles = await sql<{
      hours: number;
      profile_id: string;
      decided: string;
      rejected: string;
    }>`
      select w.hours, r.row->>'profile_id' as profile_id,
             ${sumOf('decided')} as decided, ${sumOf('rejected')} as rejected
        from ${inWindows(inputs)}
       group by w.hours, r.row->>'profile_id'
       order by w.hours, (r.row->>'profile_id') collate "C"`.execute(trx);
    return windows.map((window) => ({
      hours: window.hours,
      rules: rules.rows
        .filter((r) => Number(r.hours) === window.hours)
        .map((r) => ({
          rule: r.rule,
          code: r.code,
          blocks: Number(r.blocks),
          warnings: Number(r.warnings),
          shadow_verdicts: Number(r.shadow_verdicts),
        })),
      top_factories: factories.rows
        .filter((r) => Number(r.hours) === window.hours)
        .map((r) => ({ factory: r.factory, blocks: Number(r.blocks) })),
      profiles: profiles.rows
        .filter((r) => Number(r.hours) === window.hours)
        .map((r) => ({
          profile_id: r.profile_id,
          decided: Number(r.decided),
          rejected: Number(r.rejected),
        })),
    }));
  });
}
