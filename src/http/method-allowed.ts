import type { RequestHandler } from 'express';
import { LedgerError } from '../errors.ts';
import type { RouteTable } from './route-table.ts';

/**
 * `405 METHOD_NOT_ALLOWED` with `Allow` for a path that is a route but not for this method.
 * Before authentication: the routes are public (`/v1/openapi.json`), and a client that used the
 * wrong method should learn that, not that its token is missing.
 */
export function methodAllowed(routes: RouteTable): RequestHandler {
  return (req, res, next) => {
    const route = routes.match(req.path);
    if (route === undefined || route.methods.includes(req.method)) {
      next();
      return;
    }
    res.setHeader('Allow', route.methods.join(', '));
    throw new LedgerError('METHOD_NOT_ALLOWED', `${route.template} does not take ${req.method}.`, {
      method: req.method,
      allowed: route.methods,
    });
  };
}
