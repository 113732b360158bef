import { z } from 'zod';
import { dateTime, logPosition } from './fields.ts';

const mode = z.enum(['off', 'shadow', 'warn', 'enforce']);

/** `GET /v1/policy` and the answer of `POST /v1/policy/activations`: the policy in force. */
export const policyViewSchema = z
  .object({
    profile: z.object({
      id: z.string(),
      digest: z
        .string()
        .meta({ description: "Lowercase hex SHA-256 of the profile's RFC 8785 canonical JSON." }),
      description: z.string(),
      settings: z.object({ max_input_age_seconds: z.number().int() }),
    }),
    environment: z.enum(['development', 'staging', 'production']),
    override: z
      .literal('warn')
      .nullable()
      .meta({ description: 'warn: the rollback toggle is on (every enforce only warns).' }),
    source: z.enum(['start', 'operator']).meta({
      description: 'start: the profile this process started with; operator: switched over the API.',
    }),
    signed_by: z
      .string()
      .nullable()
      .meta({ description: 'The trusted key that signed a profile document; null otherwise.' }),
    principal: z
      .object({ role: z.enum(['operator', 'factory', 'auditor']), id: z.string() })
      .nullable()
      .meta({ description: 'The operator who switched; null at start.' }),
    activated_at: dateTime,
    position: logPosition.meta({ description: 'Where the activation is recorded in the log.' }),
    rules: z.array(
      z.object({
        rule: z.string(),
        development: mode,
        staging: mode,
        production: mode,
        effective: mode.meta({
          description: "This process's mode: its environment's, with the override applied.",
        }),
      }),
    ),
  })
  .meta({ id: 'Policy', description: 'The policy profile in force and its rule x mode matrix.' });
export type PolicyView = z.infer<typeof policyViewSchema>;
