import { z } from 'zod';
import { principalSchema } from './mission-events.ts';
import { isoDateTime } from './primitives.ts';

/*
 * A trace: the inputs a ledger received, one JSON object per line (JSONL), in the order received.
 * Replaying a trace through the real command path, with the trace's own clock, reproduces what
 * the ledger decided; replaying it under another policy profile is a policy simulation.
 */

/** What an input was, and which route of the API it came through. */
export const traceInputKinds = [
  'dispatch', // POST /v1/missions
  'callback', // POST /v1/missions/{mission_id}/events
  'cancel', // POST /v1/missions/{mission_id}/cancel
  'key.register', // POST /v1/keys
  'key.revoke', // POST /v1/keys/{key_id}/revoke
  'policy.activate', // POST /v1/policy/activations
] as const;

/** One input as the ledger received it. */
export const traceLineSchema = z
  .strictObject({
    /** 1, 2, 3, ... in receive order: a gap or a repeat is an error. */
    seq: z.number().int().positive(),
    kind: z.enum(traceInputKinds),
    /** The ledger's receive time: the simulation's clock. */
    received_at: isoDateTime,
    principal: principalSchema,
    /** The path parameter of callbacks, cancels (mission_id) and revocations (key_id). */
    target: z.string().min(1).max(512).optional(),
    /** The headers the decision reads, by lower-case name; absent ones left out. */
    headers: z
      .strictObject({
        'ledger-signature': z.string().max(4096).optional(),
        'idempotency-key': z.string().max(1024).optional(),
      })
      .default({}),
    /** The body exactly as received (any JSON: a trace carries malformed inputs too). */
    body: z.json(),
    /**
     * What the ledger that received it decided, when known (an exported trace knows; a generated
     * one states what its generator intended): a simulation reports every input whose outcome
     * differs.
     */
    recorded: z
      .strictObject({
        outcome: z.enum(['accepted', 'rejected', 'duplicate']),
        /**
         * Reason codes of a rejection, in order, as the log records them; empty otherwise. (They
         * can differ from the answer: a factory posting for another's mission is recorded
         * FORBIDDEN_INSTANCE and answered MISSION_NOT_FOUND. `ledger trace export` can only know
         * the recorded codes, so both generate and export state those.)
         */
        reasons: z.array(z.string().regex(/^[A-Z][A-Z0-9_]*$/)),
      })
      .optional(),
  })
  .meta({ id: 'TraceLine', description: 'One input of a trace, as the ledger received it.' });
/** One parsed line of a trace. */
export type TraceLine = z.infer<typeof traceLineSchema>;
