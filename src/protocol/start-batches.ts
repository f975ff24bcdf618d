import { z } from 'zod';
import { StartWorkflowResponseSchema } from './api.js';
import { ErrorBodySchema } from './errors.js';
import { hasVersion } from './version.js';

/*
 * Several workflow starts in one request. A client that starts many
 * workflows at once (a fan-out from an API handler, a batch job, a test
 * harness) would otherwise open a request, and often a connection, per
 * start; on a busy machine each exchange costs the client and the server
 * more CPU than the start's own work. The starts travel together but stay
 * independent: each is checked and applied exactly as if it had come alone
 * (concurrent starts share transactions in the engine either way), and each
 * gets its own answer. The answer is a stream of JSON lines, one per start,
 * written as each start settles, so a start-and-wait (`waitForResultMs`)
 * answers when its own run closes, not when the slowest of the batch does.
 */

/** The most starts one request may carry. */
export const MAX_STARTS_PER_REQUEST = 500;

/** The control-plane version that added `startWorkflows`; a client sends starts together only to such a server. */
export const START_BATCHES_SINCE = '1.2';

/** The media type of the answer: one JSON object per line (newline-delimited JSON). */
export const NDJSON = 'application/x-ndjson';

export const StartWorkflowsRequestSchema = z
  .object({
    starts: z
      .array(
        /** A `startWorkflow` request body (checked as that operation checks it, on its own). */
        z.record(z.string(), z.unknown()),
      )
      .min(1, 'send at least one start')
      .max(MAX_STARTS_PER_REQUEST, `send at most ${MAX_STARTS_PER_REQUEST} starts per request`),
  })
  .meta({ id: 'StartWorkflowsRequest' });
export type StartWorkflowsRequest = z.input<typeof StartWorkflowsRequestSchema>;

/** One line of the answer: the outcome of the start at `index` of the request. */
export const StartOutcomeSchema = z
  .union([
    /** `response` is what `startWorkflow` answers alone (with `outcome` once it waited for the run to close). */
    z.object({ index: z.number().int(), ok: z.literal(true), response: StartWorkflowResponseSchema }),
    /** The error `startWorkflow` would have answered alone, with its HTTP status. */
    z.object({
      index: z.number().int(),
      ok: z.literal(false),
      status: z.number().int(),
      error: ErrorBodySchema.shape.error,
    }),
  ])
  .meta({ id: 'StartOutcome' });
export type StartOutcome = z.infer<typeof StartOutcomeSchema>;

/** True when a server speaking control-plane protocol `version` takes `startWorkflows`. */
export function takesStartBatches(version: string): boolean {
  return hasVersion(version, START_BATCHES_SINCE);
}
