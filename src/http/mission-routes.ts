import express, { type Request, type Response, type Router } from 'express';
import { budgetRow } from '../../projections/budgets.ts';
import { LedgerError } from '../errors.ts';
import type { MissionState } from '../domain/mission/index.ts';
import type { CommandOutcome } from '../ledger/command-handler.ts';
import type { MissionLedger } from '../ledger/mission-ledger.ts';
import type { Logger } from '../logger.ts';
import { principalOf, requireRole, type Principal } from './auth.ts';
import { jsonBody } from './body.ts';
import { usageFigures } from './budget-figures.ts';
import { sendError } from './errors.ts';
import { limitParam, positionCursor, queryParams } from './query-params.ts';
import type { MissionView, TimelinePage } from './response-schemas/index.ts';

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
      queryParams(req, []);
      const missionId = typeof req.params.id === 'string' ? req.params.id : undefined;
      // The child logger is built only when a line will be written: callbacks come by thousands a
      // second and each is in the event log already, so accepted ones are logged at debug.
      const log = () => missionLog(logger, req.body, missionId);
      const outcome = await run(req);
      if (outcome.outcome === 'rejected') {
        const { recorded, duplicate } = outcome;
        // `reasons` as the log holds them; a schema rejection's issues once, in `details.issues`.
        const reasons = outcome.reasons.map(({ code, message }) => ({ code, message }));
        const issues = outcome.reasons.find((r) => r.code === 'SCHEMA_INVALID')?.issues;
        log().warn({ code: reasons[0]?.code, reasons, recorded }, 'rejected');
        const first = reasons[0] ?? { code: 'SCHEMA_INVALID' as const, message: 'Rejected.' };
        sendError(
          res,
          new LedgerError(first.code, first.message, {
            reasons,
            ...(issues === undefined ? {} : { issues }),
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
      ledger.dispatch(req.body, principalOf(req), req.get('ledger-signature')),
    ),
  );

  router.post(
    '/missions/:id/events',
    requireRole('factory'),
    ...body,
    command('callback', 'debug', ['callback accepted', 'callback replayed'], (req) =>
      ledger.callback(
        req.params.id as string,
        req.body,
        principalOf(req),
        req.get('ledger-signature'),
      ),
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
    queryParams(req, []);
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
      const query = queryParams(req, ['cursor', 'from_revision', 'limit']);
      // `cursor` is the last revision seen (exclusive); the older `from_revision` the first wanted.
      const cursor = positionCursor(query, 'from_revision');
      const from = cursor === undefined ? 0 : cursor.legacy ? cursor.value : cursor.value + 1;
      const limit = limitParam(query);
      const principal = principalOf(req);
      if (principal.role === 'factory') {
        const found = await ledger.mission(missionId);
        if (found === undefined) throw missionNotFound(missionId);
        assertMayRead(principal, missionId, found.state);
      }
      // One more than asked tells whether the page ends the stream: next_cursor is null there.
      const read = await ledger.timeline(missionId, from, limit + 1);
      if (read === undefined) throw missionNotFound(missionId);
      const events = read.slice(0, limit);
      const last = events.at(-1);
      res.json({
        mission_id: missionId,
        events,
        next_cursor: read.length > limit && last !== undefined ? String(last.revision) : null,
        next_from_revision: last === undefined ? from : last.revision + 1,
      } satisfies TimelinePage);
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
export function missionView(state: MissionState, revision: number): MissionView {
  const { dispatch, usage, budget } = state;
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
    // The budgets projection's row of this state, so its figures are the ones GET /v1/budgets
    // shows; of the row only the figures are shown (its position argument is unused here).
    usage: usageFigures(
      budgetRow(
        { mission_id: state.mission_id, mission_type: dispatch.mission_type },
        budget,
        usage,
        state.updated_at,
        0,
      ),
    ),
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
