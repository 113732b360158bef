import type { RequestHandler } from 'express';
import type { ReadModels } from '../read-models/read-models.ts';
import type { EventStore } from '../store/port.ts';
import type { NotReady, Ready } from './response-schemas/index.ts';

/** How long `readyz` waits for the store unless told otherwise (`LEDGER_READYZ_TIMEOUT_MS`). */
export const DEFAULT_READYZ_TIMEOUT_MS = 1_000;

/**
 * `GET /v1/readyz`. Ready means the store answers now, within `timeoutMs`; nothing is cached, so
 * the next probe succeeds by itself once the store is back. The answer:
 *
 * - `200 ready`: the store answered and no projection is stalled;
 * - `200 degraded`: the store answered but a projection is stalled (`stalled` names them). The
 *   status stays 200 on purpose: a stall lives in the shared checkpoint, so every process reports
 *   it at once, and a 503 would take the whole command path out of the load balancer for a read
 *   model that commands do not use. Reads of that model answer 503 PROJECTION_STALLED themselves;
 *   monitoring alerts on the body's `status`;
 * - `503 degraded` with `STORE_UNAVAILABLE`: the store failed or did not answer within
 *   `timeoutMs`. The probe answers by its own deadline even while a network partition holds
 *   the store's call open.
 */
export function readiness(
  store: EventStore,
  readModels: ReadModels,
  timeoutMs: number = DEFAULT_READYZ_TIMEOUT_MS,
): RequestHandler {
  return async (_req, res) => {
    const started = performance.now();
    const failure = await answersWithin(store, timeoutMs);
    const projections = readModels.status();
    if (failure === undefined) {
      const stalled = projections.filter((p) => p.status === 'stalled').map((p) => p.name);
      res.json({
        status: stalled.length === 0 ? 'ready' : 'degraded',
        store: { status: 'up', latency_ms: performance.now() - started },
        projections,
        ...(stalled.length === 0 ? {} : { stalled }),
      } satisfies Ready);
      return;
    }
    res.status(503).json({
      status: 'degraded',
      store: { status: 'down', error: failure },
      projections,
      error: {
        code: 'STORE_UNAVAILABLE',
        message: 'The event store is unreachable.',
        details: { timeout_ms: timeoutMs },
      },
    } satisfies NotReady);
  };
}

/** Undefined when the store answers a ping within `timeoutMs`, else why not. */
async function answersWithin(store: EventStore, timeoutMs: number): Promise<string | undefined> {
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<string>((resolve) => {
    timer = setTimeout(() => resolve(`no answer within ${timeoutMs} ms`), timeoutMs);
  });
  const ping = store.ping().then(
    () => undefined,
    (error: unknown) => (error instanceof Error ? error.message : String(error)),
  );
  try {
    return await Promise.race([ping, late]);
  } finally {
    clearTimeout(timer);
  }
}
