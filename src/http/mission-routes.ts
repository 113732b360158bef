import express, { type Request, type Response, type Router } from 'express';
import { LedgerError } from '../errors.ts';
import type { MissionState } from '../domain/mission/index.ts';
import type { CommandOutcome } from '../ledger/command-handler.ts';
import type { MissionLedger } from '../ledger/mission-ledger.ts';
import type { Logger } from '../logger.ts';
import { principalOf, requireRole, type Principal } from './auth.ts';
import { jsonBody } from './body.ts';
import { intParam, sendError } from './errors.ts';

export interface MissionRouteDeps {
  ledger: MissionLedger;
  logger: Logger;
  bodyLimit: number;
}

/** Missions: dispatch, lifecycle callbacks, cancel, and reads of one mission from its stream. */
export function missionRoutes({ ledger, logger, bodyLimit }: MissionRouteDeps): Router {
  const router = express.Router();
  const body = jsonBody(bodyLimit);

  /**
   * Runs one command and answers its outcome: 201 when appended, 200 for a replay, the first
   * reason's status for a rejection (already in the log, `details.recorded` says where). Every
   * line is logged with the mission and trace.
   */
  const command =
    (
      route: string,
      level: 'info' | 'debug',
      messages: [appended: string, replayed: string],
      run: (req: Request) => Promise<CommandOutcome>,
    ) =>
    async (req: Request, res: Response) => {
      const missionId = typeof req.params.id === 'string' ? req.params.id : undefined;
      // The child logger is built only when a line will be written: callbacks come by thousands a
      // second and each is in the event log already, so accepted ones are logged at debug.
      const log = () => missionLog(logger, req.body, missionId);
      const outcome = await run(req);
      if (outcome.outcome === 'rejected') {
        const { reasons, recorded, duplicate } = outcome;
        log().warn({ code: reasons[0]?.code, reasons, recorded }, 'rejected');
        const first = reasons[0] ?? { code: 'SCHEMA_INVALID' as const, message: 'Rejected.' };
        sendError(
          res,
          new LedgerError(first.code, first.message, {
            reasons,
            recorded: { revision: recorded.revision, position: recorded.position },
            ...(duplicate ? { duplicate: true } : {}),
          }),
        );
        return;
      }
      const { mission_id: id, ...allocated } = outcome.answer;
      const duplicate = outcome.outcome === 'duplicate';
      const body = {
        mission_id: id,
        revision: outcome.revision,
        position: outcome.position,
        duplicate,
        ...allocated,
      };
      if (logger.isLevelEnabled(level)) {
        const { mission_id: _id, ...rest } = body;
        log()[level]({ ...rest, route }, duplicate ? messages[1] : messages[0]);
      }
      res.status(duplicate ? 200 : 201).json(body);
    };

  router.post(
    '/missions',
    requireRole('operator'),
    ...body,
    command('dispatch', 'info', ['mission dispatched', 'dispatch replayed'], (req) =>
      ledger.dispatch(req.body, principalOf(req)),
    ),
  );

  router.post(
    '/missions/:id/events',
    requireRole('factory'),
    ...body,
    command('callback', 'debug', ['callback accepted', 'callback replayed'], (req) =>
      ledger.callback(req.params.id as string, req.body, principalOf(req)),
    ),
  );

  router.post(
    '/missions/:id/cancel',
    requireRole('operator'),
    ...body,
    command('cancel', 'info', ['cancel requested', 'cancel replayed'], (req) =>
      ledger.cancel(
        req.params.id as string,
        req.body,
        req.get('Idempotency-Key'),
        principalOf(req),
      ),
    ),
  );

  router.get('/missions/:id', requireRole('operator', 'auditor', 'factory'), async (req, res) => {
    const missionId = req.params.id as string;
    const found = await ledger.mission(missionId);
    if (found === undefined) throw missionNotFound(missionId);
    assertMayRead(principalOf(req), missionId, found.state);
    res.json(missionView(found.state, found.revision));
  });

  router.get(
    '/missions/:id/events',
    requireRole('operator', 'auditor', 'factory'),
    async (req, res) => {
      const missionId = req.params.id as string;
      const from = intParam(req.query.from_revision, 'from_revision', 0);
      const limit = intParam(req.query.limit, 'limit', 100, 1000) || 100;
      const principal = principalOf(req);
      if (principal.role === 'factory') {
        const found = await ledger.mission(missionId);
        if (found === undefined) throw missionNotFound(missionId);
        assertMayRead(principal, missionId, found.state);
      }
      const events = await ledger.timeline(missionId, from, limit);
      if (events === undefined) throw missionNotFound(missionId);
      const last = events.at(-1);
      res.json({
        mission_id: missionId,
        events,
        next_from_revision: last === undefined ? from : last.revision + 1,
      });
    },
  );

  return router;
}

/**
 * A factory reads only missions addressed to its own instance; to any other it is answered as if
 * the mission did not exist, so that it learns nothing, not even that the mission exists.
 */
function assertMayRead(principal: Principal, missionId: string, state: MissionState): void {
  if (principal.role === 'factory' && principal.id !== state.target_instance_id)
    throw missionNotFound(missionId);
}

const missionNotFound = (missionId: string) =>
  new LedgerError('MISSION_NOT_FOUND', `No mission ${missionId}.`);

/** The mission as the API shows it: state, usage against budget, what the factory must act on. */
export function missionView(state: MissionState, revision: number) {
  const { dispatch, usage, budget } = state;
  const percent = (used: number, max: number) =>
    max > 0 ? Math.round((10_000 * used) / max) / 100 : null;
  return {
    mission_id: state.mission_id,
    status: state.status,
    mission_type: dispatch.mission_type,
    objective: dispatch.objective,
    identity: {
      vp_id: dispatch.vp_id,
      vp_session_id: state.vp_session_id,
      vp_runtime_id: dispatch.vp_runtime_id,
      source_instance_id: dispatch.source_instance_id,
      target_instance_id: dispatch.target_instance_id,
      trace_id: state.trace_id,
      workspace_key: state.workspace_key,
    },
    usage: {
      runtime_minutes: {
        used: usage.runtime_minutes,
        max: budget.max_runtime_minutes,
        percent: percent(usage.runtime_minutes, budget.max_runtime_minutes),
      },
      llm_calls: {
        used: usage.llm_calls,
        max: budget.max_llm_calls,
        percent: percent(usage.llm_calls, budget.max_llm_calls),
      },
      cost_usd: {
        used: usage.estimated_cost_usd,
        max: budget.max_cost_usd,
        percent: percent(usage.estimated_cost_usd, budget.max_cost_usd),
      },
    },
    last_event: state.last_event,
    artifacts: state.artifacts,
    pending_commands: state.pending_commands,
    final: state.final,
    counts: { accepted: state.accepted_count, rejected: state.rejected_count },
    dispatched_at: state.dispatched_at,
    updated_at: state.updated_at,
    revision,
  };
}

function missionLog(logger: Logger, payload: unknown, missionId?: string): Logger {
  const p = (typeof payload === 'object' && payload !== null ? payload : {}) as Record<
    string,
    unknown
  >;
  const str = (v: unknown) => (typeof v === 'string' ? v.slice(0, 256) : undefined);
  return logger.child({ mission_id: missionId ?? str(p.mission_id), trace_id: str(p.trace_id) });
}
