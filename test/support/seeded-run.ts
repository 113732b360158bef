import type { LifecycleEventType, MissionType } from '../../schemas/index.ts';
import { TOKENS, type TestApp } from './http-app.ts';
import { callbackPayload, dispatchPayload, type Dispatch } from './mission-fixtures.ts';

const TYPES: readonly MissionType[] = ['coding', 'research', 'automation', 'custom'];

/** How each mission of a seeded run ends, by its index modulo 6. */
const ENDINGS = ['completed', 'failed', 'blocked', 'timed_out', 'cancelled', 'running'] as const;

export interface SeededRun {
  /** Appended events: accepted and rejected inputs. */
  calls: number;
  /** The last position an answer reported. */
  lastPosition: number;
  dispatches: Dispatch[];
}

/**
 * Drives `missions` missions through the HTTP API, `concurrency` at a time, each through a
 * deterministic lifecycle: dispatch, accepted, progress reports with growing usage, then an ending
 * by index (completed, failed, blocked awaiting approval, timed out, cancelled, still running).
 * Every third mission also gets a rejected callback (usage going down), so rejections are
 * recorded too. Every answer must be the expected one, or it throws.
 */
export async function seedMissions(
  app: TestApp,
  missions: number,
  concurrency = 8,
): Promise<SeededRun> {
  const run: SeededRun = { calls: 0, lastPosition: 0, dispatches: [] };
  const post = async (
    path: string,
    token: string,
    body: unknown,
    expected: number,
    headers: Record<string, string> = {},
  ) => {
    const res = await app.call('POST', path, { token, body, headers });
    if (res.status !== expected) {
      throw new Error(`POST ${path}: ${res.status} ${JSON.stringify(res.body)}`);
    }
    run.calls += 1;
    const position = res.body.position ?? res.body.error?.details.recorded?.position ?? 0;
    run.lastPosition = Math.max(run.lastPosition, position);
  };
  const one = async (i: number) => {
    const dispatch = dispatchPayload({ mission_type: TYPES[i % TYPES.length] });
    run.dispatches.push(dispatch);
    const events = `/v1/missions/${dispatch.mission_id}/events`;
    const callback = async (event_type: LifecycleEventType, step: number, expected = 201) =>
      post(
        events,
        TOKENS.factory,
        callbackPayload(dispatch, {
          event_type,
          usage: {
            runtime_minutes: step * 3,
            llm_calls: step * 7,
            estimated_cost_usd: step * 0.25,
          },
        }),
        expected,
      );
    await post('/v1/missions', TOKENS.operator, dispatch, 201);
    await callback('mission.accepted', 1);
    await callback('mission.progress', 2);
    await callback('mission.progress', 3);
    if (i % 3 === 0) await callback('mission.progress', 1, 422); // usage decreased: recorded
    const ending = ENDINGS[i % ENDINGS.length]!;
    switch (ending) {
      case 'completed':
        await callback('mission.artifact', 4);
        await callback('mission.completed', 5);
        break;
      case 'failed':
        await callback('mission.failed', 4);
        break;
      case 'blocked':
        await callback('mission.blocked', 4);
        break;
      case 'timed_out':
        await callback('mission.timed_out', 9);
        break;
      case 'cancelled':
        await post(
          `/v1/missions/${dispatch.mission_id}/cancel`,
          TOKENS.operator,
          { reason: 'Seeded cancel.' },
          201,
          { 'Idempotency-Key': `cancel:${dispatch.mission_id}` },
        );
        await callback('mission.cancelled', 4);
        break;
      case 'running':
        break;
    }
  };
  let next = 0;
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (next < missions) await one(next++);
    }),
  );
  return run;
}
