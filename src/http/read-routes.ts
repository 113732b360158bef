import express, { type Request, type RequestHandler, type Response, type Router } from 'express';
import { z } from 'zod';
import { missionStateOfRow } from '../../projections/mission-state.ts';
import { isoDateTime, missionStatusSchema, missionTypeSchema } from '../../schemas/index.ts';
import { LedgerError, isLedgerError } from '../errors.ts';
import type { Logger } from '../logger.ts';
import {
  listApprovals,
  listMissions,
  missionBudget,
  missionHealth,
  policyDashboard,
  vpSession,
  type Keyset,
  type OutcomeWindow,
  type PolicyWindowCounts,
  type WindowOutcomes,
} from '../read-models/queries.ts';
import type { ReadModels } from '../read-models/read-models.ts';
import type { EventStore } from '../store/port.ts';
import { requireRole } from './auth.ts';
import { usageFigures } from './budget-figures.ts';
import { sendError } from './errors.ts';
import { missionView } from './mission-routes.ts';
import type {
  Approvals,
  Budget,
  MissionHealth,
  MissionList,
  PolicyDashboard,
  Projections,
  VpSession,
} from './response-schemas/index.ts';
import {
  intParam,
  invalidParameter,
  limitParam,
  queryParams as params,
  type Query,
} from './query-params.ts';

export interface ReadRouteDeps {
  readModels: ReadModels;
  store: EventStore;
  logger: Logger;
  /** The app's clock: dashboards compute ages and windows from it. */
  now: () => Date;
  /** Longest a read waits for its `min_position`. */
  minPositionWaitMs: number;
}

/** The outcome windows of the mission-health dashboard, in hours. */
export const OUTCOME_WINDOW_HOURS = [1, 24, 168] as const;

/** How many senders the policy dashboard lists per window, by blocks. */
export const POLICY_TOP_FACTORIES = 10;

const HOUR_MS = 3_600_000;

/**
 * Reads served from the projections' read models: the mission list, budgets, dashboards and the
 * projections' own progress. Every read of a projection reports `as_of_position`, and waits for
 * `min_position` first when given (read-your-writes after a command's `position`).
 */
export function readRoutes(deps: ReadRouteDeps): Router {
  const { readModels } = deps;
  const router = express.Router();
  const readers = requireRole('operator', 'auditor');

  /** Waits for `min_position` on `projection`, when the request names one. */
  const reached = async (query: Query, projection: string) => {
    if (query.min_position === undefined) return;
    const position = intParam(query, 'min_position', 0);
    await readModels.waitFor(projection, position, deps.minPositionWaitMs);
  };

  router.get(
    '/missions',
    readers,
    answer(deps.logger, async (req, res) => {
      const query = params(req, [
        'status',
        'mission_type',
        'vp_id',
        'limit',
        'cursor',
        'min_position',
      ]);
      const status = enumParam(missionStatusSchema, query.status, 'status');
      const missionType = enumParam(missionTypeSchema, query.mission_type, 'mission_type');
      const vpId = stringParam(query.vp_id, 'vp_id');
      const limit = limitParam(query);
      const after = cursorParam(query.cursor);
      await reached(query, 'mission_state');
      const { as_of_position, result } = await listMissions(
        readModels,
        {
          ...(status === undefined ? {} : { status }),
          ...(missionType === undefined ? {} : { mission_type: missionType }),
          ...(vpId === undefined ? {} : { vp_id: vpId }),
        },
        { limit, ...(after === undefined ? {} : { after }) },
      );
      const last = result.rows.at(-1)?.row;
      res.json({
        missions: result.rows.map(({ row, dispatch }) =>
          missionView(missionStateOfRow(row, dispatch.dispatch), row.last_revision),
        ),
        next_cursor:
          result.more && last !== undefined
            ? encodeCursor({ sort: last.dispatched_at, key: last.mission_id })
            : null,
        as_of_position,
      } satisfies MissionList);
    }),
  );

  router.get(
    '/budgets/:mission_id',
    readers,
    answer(deps.logger, async (req, res) => {
      const query = params(req, ['min_position']);
      const missionId = req.params.mission_id as string;
      await reached(query, 'budgets');
      const { as_of_position, result } = await missionBudget(readModels, missionId);
      if (result === undefined) {
        throw new LedgerError('MISSION_NOT_FOUND', `No budget for mission ${missionId}.`, {
          mission_id: missionId,
          as_of_position,
        });
      }
      res.json({
        mission_id: result.mission_id,
        mission_type: result.mission_type,
        usage: usageFigures(result),
        any_breached: result.any_breached,
        updated_at: result.updated_at,
        last_position: result.last_position,
        as_of_position,
      } satisfies Budget);
    }),
  );

  router.get(
    '/dashboards/approvals',
    readers,
    answer(deps.logger, async (req, res) => {
      const query = params(req, ['limit', 'cursor', 'min_position']);
      const limit = limitParam(query);
      const after = cursorParam(query.cursor);
      await reached(query, 'approval_queue');
      const { as_of_position, result } = await listApprovals(readModels, {
        limit,
        ...(after === undefined ? {} : { after }),
      });
      // After the read: a row can then never look younger than it was when read.
      const now = deps.now();
      const last = result.rows.at(-1);
      res.json({
        approvals: result.rows.map((row) => ({
          ...row,
          age_seconds: Math.max(0, Math.floor((now.getTime() - Date.parse(row.since)) / 1000)),
        })),
        next_cursor:
          result.more && last !== undefined
            ? encodeCursor({ sort: last.since, key: last.mission_id })
            : null,
        as_of_position,
        now: now.toISOString(),
      } satisfies Approvals);
    }),
  );

  router.get(
    '/dashboards/mission-health',
    readers,
    answer(deps.logger, async (req, res) => {
      const query = params(req, ['min_position']);
      await reached(query, 'mission_health');
      const now = deps.now();
      const windows = outcomeWindows(now);
      const { as_of_position, result } = await missionHealth(readModels, windows);
      res.json({
        now: now.toISOString(),
        as_of_position,
        status_counts: result.status_counts,
        outcomes: windows.map((window) => outcomeWindow(window, result.outcomes)),
        rejections: result.rejections,
      } satisfies MissionHealth);
    }),
  );

  router.get(
    '/dashboards/policy',
    readers,
    answer(deps.logger, async (req, res) => {
      const query = params(req, ['min_position']);
      await reached(query, 'policy_decisions');
      const now = deps.now();
      // The windows of the mission-health dashboard: h hour buckets, the current one included.
      const windows = outcomeWindows(now);
      const { as_of_position, result } = await policyDashboard(readModels, {
        windows,
        top: POLICY_TOP_FACTORIES,
      });
      res.json({
        now: now.toISOString(),
        as_of_position,
        windows: windows.map((window, i) => policyWindow(window, result[i]!)),
      } satisfies PolicyDashboard);
    }),
  );

  router.get(
    '/vp-sessions/:vpId/:vpSessionId',
    readers,
    answer(deps.logger, async (req, res) => {
      const query = params(req, ['min_position']);
      const vpId = req.params.vpId as string;
      const vpSessionId = req.params.vpSessionId as string;
      await reached(query, 'vp_sessions');
      const { as_of_position, result } = await vpSession(readModels, vpId, vpSessionId);
      if (result === undefined) {
        throw new LedgerError(
          'VP_SESSION_NOT_FOUND',
          'No VP session with that vp_id and vp_session_id.',
          { vp_id: vpId, vp_session_id: vpSessionId, as_of_position },
        );
      }
      const { session, missions } = result;
      res.json({
        vp_id: session.vp_id,
        vp_session_id: session.vp_session_id,
        workspace_key: session.workspace_key,
        vp_runtime_id: session.vp_runtime_id,
        missions: missions.map((m) => m.mission_id),
        registered_at: session.registered_at,
        updated_at: session.updated_at,
        as_of_position,
      } satisfies VpSession);
    }),
  );

  router.get(
    '/projections',
    readers,
    answer(deps.logger, async (req, res) => {
      params(req, []);
      // Statuses first: a projection never passes the head read after it, so lag is >= 0.
      const statuses = await readModels.freshStatus();
      const head = await deps.store.headPosition();
      res.json({
        head_position: head,
        projections: statuses.map((s) => ({ ...s, lag: Math.max(0, head - s.position) })),
      } satisfies Projections);
    }),
  );

  return router;
}

/**
 * Runs a read; a projection that is behind or stalled is answered 503 with `Retry-After: 1`. A
 * lag is logged at warn (the client retries, nothing is broken), a stall at error.
 */
function answer(
  logger: Logger,
  handler: (req: Request, res: Response) => Promise<void>,
): RequestHandler {
  return async (req, res) => {
    try {
      await handler(req, res);
    } catch (error) {
      if (
        !isLedgerError(error, 'PROJECTION_LAGGING') &&
        !isLedgerError(error, 'PROJECTION_STALLED')
      )
        throw error;
      const level = error.code === 'PROJECTION_STALLED' ? 'error' : 'warn';
      logger[level]({ ...error.details, code: error.code, path: req.path }, error.message);
      res.setHeader('Retry-After', '1');
      sendError(res, error);
    }
  };
}

/** A parameter that, when given, is not empty. */
function stringParam(value: string | undefined, name: string): string | undefined {
  if (value === '') throw invalidParameter(name, `${name} must not be empty.`, { value });
  return value;
}

function enumParam<T extends string>(
  schema: z.ZodEnum<Record<string, T>>,
  value: string | undefined,
  name: string,
): T | undefined {
  const text = stringParam(value, name);
  if (text === undefined) return undefined;
  const parsed = schema.safeParse(text);
  if (!parsed.success) {
    throw invalidParameter(name, `${name} must be one of ${schema.options.join(', ')}.`, {
      value: text,
      allowed: schema.options,
    });
  }
  return parsed.data;
}

/** A cursor is base64url of the JSON `[sort value, mission_id]` of the last row of a page. */
const cursorSchema = z.tuple([isoDateTime, z.string().min(1)]);

function encodeCursor({ sort, key }: Keyset): string {
  return Buffer.from(JSON.stringify([sort, key])).toString('base64url');
}

function cursorParam(value: string | undefined): Keyset | undefined {
  const text = stringParam(value, 'cursor');
  if (text === undefined) return undefined;
  let decoded: unknown;
  try {
    if (!/^[A-Za-z0-9_-]+$/.test(text)) throw new Error('not base64url');
    decoded = JSON.parse(Buffer.from(text, 'base64url').toString('utf8'));
  } catch {
    decoded = undefined;
  }
  const parsed = cursorSchema.safeParse(decoded);
  if (!parsed.success) {
    throw invalidParameter(
      'cursor',
      'cursor is not a cursor this API returned (use next_cursor as given).',
      { value: text },
    );
  }
  return { sort: parsed.data[0], key: parsed.data[1] };
}

/**
 * The outcome windows at `now`: the window of h hours starts at the UTC hour h-1 hours before the
 * hour `now` falls in, so it spans h hour buckets, the current (partial) one included.
 */
export function outcomeWindows(now: Date): OutcomeWindow[] {
  const hour = Math.floor(now.getTime() / HOUR_MS) * HOUR_MS;
  return OUTCOME_WINDOW_HOURS.map((hours) => ({
    hours,
    since: new Date(hour - (hours - 1) * HOUR_MS).toISOString(),
  }));
}

type Outcomes = Pick<WindowOutcomes, 'completed' | 'failed' | 'cancelled' | 'timed_out'>;

/** Counts with `closed` and the rates: success = completed / closed, failure = (failed + timed_out) / closed. */
function withRates(counts: Outcomes) {
  const closed = counts.completed + counts.failed + counts.cancelled + counts.timed_out;
  return {
    ...counts,
    closed,
    success_rate: closed === 0 ? null : counts.completed / closed,
    failure_rate: closed === 0 ? null : (counts.failed + counts.timed_out) / closed,
  };
}

/** One window of the dashboard: every mission type (zeros included) and the total. */
function outcomeWindow(window: OutcomeWindow, rows: readonly WindowOutcomes[]) {
  const zero: Outcomes = { completed: 0, failed: 0, cancelled: 0, timed_out: 0 };
  const total = { ...zero };
  const missionTypes = missionTypeSchema.options.map((missionType) => {
    const row = rows.find((r) => r.hours === window.hours && r.mission_type === missionType);
    const counts: Outcomes = row === undefined ? zero : row;
    for (const key of Object.keys(zero) as (keyof Outcomes)[]) total[key] += counts[key];
    return {
      mission_type: missionType,
      ...withRates({
        completed: counts.completed,
        failed: counts.failed,
        cancelled: counts.cancelled,
        timed_out: counts.timed_out,
      }),
    };
  });
  return {
    window_hours: window.hours,
    since: window.since,
    mission_types: missionTypes,
    total: withRates(total),
  };
}

/** A ratio of counts; null when there is nothing to divide by. */
const ratioOf = (part: number, whole: number) => (whole === 0 ? null : part / whole);

/** One window of the policy dashboard: the counts with each profile's and the total's ratio. */
function policyWindow(window: OutcomeWindow, counts: PolicyWindowCounts) {
  const decided = counts.profiles.reduce((sum, p) => sum + p.decided, 0);
  const rejected = counts.profiles.reduce((sum, p) => sum + p.rejected, 0);
  return {
    window_hours: window.hours,
    since: window.since,
    rules: counts.rules,
    top_factories: counts.top_factories,
    profiles: counts.profiles.map((p) => ({
      ...p,
      rejection_ratio: ratioOf(p.rejected, p.decided),
    })),
    total: { decided, rejected, rejection_ratio: ratioOf(rejected, decided) },
  };
}
