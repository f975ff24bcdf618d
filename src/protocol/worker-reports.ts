import { z } from 'zod';
import { ErrorBodySchema } from './errors.js';
import { hasVersion } from './version.js';

/*
 * Several worker reports in one request. A worker over HTTP whose tasks
 * finish together (a burst of workflows, a hundred timers falling due at
 * once) would otherwise send one request per report, and on a busy machine
 * each exchange costs both processes more than the report's own work. The
 * reports travel together but stay independent: the server checks and
 * applies each on its own, exactly as if it had come alone, and answers
 * with each one's outcome in order. One report's error changes nothing for
 * the others; there is no all-or-nothing.
 */

/** The most reports one request may carry. */
export const MAX_REPORTS_PER_REQUEST = 100;

/** The worker protocol version that added `submitWorkerReports`; a worker batches only with such a server. */
export const WORKER_REPORTS_SINCE = '1.2';

/** The reports that may travel together, by the operation each would be sent to alone. */
export const WORKER_REPORT_KINDS = [
  'completeWorkflowTask',
  'failWorkflowTask',
  'completeActivityTask',
  'failActivityTask',
  'fireTimer',
] as const;
export type WorkerReportKind = (typeof WORKER_REPORT_KINDS)[number];

export const WorkerReportsRequestSchema = z
  .object({
    reports: z
      .array(
        z.object({
          kind: z.enum(WORKER_REPORT_KINDS),
          /** The request body the operation named by `kind` takes (checked as that operation checks it). */
          request: z.unknown(),
        }),
      )
      .min(1, 'send at least one report')
      .max(MAX_REPORTS_PER_REQUEST, `send at most ${MAX_REPORTS_PER_REQUEST} reports per request`),
  })
  .meta({ id: 'WorkerReportsRequest' });
export type WorkerReportsRequest = z.input<typeof WorkerReportsRequestSchema>;

export const WorkerReportOutcomeSchema = z.union([
  /** `response` is what the operation answers alone (`{ ok: true }` for the failures). */
  z.object({ ok: z.literal(true), response: z.unknown() }),
  /** The error the operation would have answered alone, with its HTTP status. */
  z.object({ ok: z.literal(false), status: z.number().int(), error: ErrorBodySchema.shape.error }),
]);
export type WorkerReportOutcome =
  | { ok: true; response: unknown }
  | { ok: false; status: number; error: z.infer<typeof ErrorBodySchema>['error'] };

export const WorkerReportsResponseSchema = z
  .object({ results: z.array(WorkerReportOutcomeSchema) })
  .meta({ id: 'WorkerReportsResponse' });
export interface WorkerReportsResponse {
  /** One per report, in the order sent. */
  results: WorkerReportOutcome[];
}

/** True when a server speaking worker protocol `version` takes `submitWorkerReports`. */
export function takesWorkerReports(version: string): boolean {
  return hasVersion(version, WORKER_REPORTS_SINCE);
}
