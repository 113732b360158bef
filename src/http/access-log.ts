import type { RequestHandler } from 'express';
import type { Logger } from '../logger.ts';
import type { RouteTable } from './route-table.ts';

/**
 * One `info` line per request when its connection is done with it: method, route (the OpenAPI
 * template, so ids stay out of the line and lines group by route; null for no route), status,
 * duration in milliseconds and the principal (role and id) when one was authenticated. Refused
 * requests (401, 403) leave their line too. Never the token, the query or the body.
 *
 * 'close' fires for every response, answered or cut off; an event stream's line comes when it
 * ends, its duration the stream's life.
 */
export function accessLog(logger: Logger, routes: RouteTable): RequestHandler {
  return (req, res, next) => {
    if (!logger.isLevelEnabled('info')) {
      next();
      return;
    }
    const started = performance.now();
    res.once('close', () => {
      const principal = req.principal;
      logger.info(
        {
          method: req.method,
          route: routes.match(req.path)?.template ?? null,
          status: res.statusCode,
          duration_ms: Math.round((performance.now() - started) * 100) / 100,
          principal: principal === undefined ? null : `${principal.role}:${principal.id}`,
          ...(res.writableFinished ? {} : { aborted: true }),
        },
        'request',
      );
    });
    next();
  };
}
