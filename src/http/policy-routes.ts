import express, { type Request, type Response, type Router } from 'express';
import type { Activation, PolicyHolder } from '../ledger/policy-holder.ts';
import type { Logger } from '../logger.ts';
import { effectiveMode } from '../policy/active-policy.ts';
import { ruleIds } from '../policy/rule-ids.ts';
import { principalOf, requireRole } from './auth.ts';
import { jsonBody } from './body.ts';
import { queryParams } from './query-params.ts';
import type { PolicyView } from './response-schemas/index.ts';

export interface PolicyRouteDeps {
  policy: PolicyHolder;
  logger: Logger;
  bodyLimit: number;
}

/** The activation in force as the API shows it: the profile, where it came from, and each rule's modes. */
export function policyView(activation: Activation): PolicyView {
  const { active } = activation;
  return {
    profile: {
      id: active.profile.id,
      digest: active.digest,
      description: active.profile.description,
      settings: active.profile.settings,
    },
    environment: active.environment,
    override: active.override,
    source: activation.source,
    signed_by: activation.signed_by,
    principal: activation.principal,
    activated_at: activation.activated_at,
    position: activation.position,
    rules: ruleIds.map((rule) => ({
      rule,
      ...active.profile.rules[rule],
      effective: effectiveMode(active, rule),
    })),
  };
}

/**
 * The policy in force: operators and auditors read it (`GET /v1/policy`); operators switch it
 * (`POST /v1/policy/activations`), which is recorded as `policy.activated` and adopted by every
 * serving process.
 */
export function policyRoutes({ policy, logger, bodyLimit }: PolicyRouteDeps): Router {
  const router = express.Router();

  router.get('/policy', requireRole('operator', 'auditor'), (req: Request, res: Response) => {
    queryParams(req, []);
    res.json(policyView(policy.current));
  });

  router.post(
    '/policy/activations',
    requireRole('operator'),
    ...jsonBody(bodyLimit),
    async (req: Request, res: Response) => {
      queryParams(req, []);
      const activation = await policy.activateRequest(req.body, principalOf(req));
      logger.warn(
        {
          profile: activation.active.profile.id,
          digest: activation.active.digest,
          override: activation.active.override,
          principal: activation.principal,
          position: activation.position,
        },
        'policy switched by an operator',
      );
      res.status(201).json(policyView(activation));
    },
  );

  return router;
}
