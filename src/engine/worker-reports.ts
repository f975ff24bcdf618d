import {
  type ErrorBody,
  type TidewayApi,
  TidewayApiError,
  type WorkerReportKind,
  type WorkerReportOutcome,
  WorkerReportsRequestSchema,
  type WorkerReportsResponse,
} from '../protocol/index.js';
import { parseRequest } from './parse.js';

/** The operations a report of each kind goes to. */
type ReportTarget = Pick<TidewayApi, WorkerReportKind>;

/**
 * Applies each report of a `submitWorkerReports` request on its own, all
 * at once, as if each had come in a request of its own: each is checked by
 * its operation, and reports made at once share transactions there just as
 * separate requests would. Only a malformed envelope fails the whole request.
 */
export async function submitWorkerReports(
  target: ReportTarget,
  namespace: string,
  raw: unknown,
  onUnexpected: (error: unknown) => void,
): Promise<WorkerReportsResponse> {
  const { reports } = parseRequest(WorkerReportsRequestSchema, raw, 'worker reports');
  const results = await Promise.all(
    reports.map(({ kind, request }) =>
      apply(target, kind, namespace, request).then(
        (response): WorkerReportOutcome => ({ ok: true, response }),
        (error: unknown): WorkerReportOutcome => errorOutcome(error, onUnexpected),
      ),
    ),
  );
  return { results };
}

/**
 * An operation's error as one item's outcome of a shared request: what it would have answered alone.
 * An error that is not the API's own is reported (it is a bug) and answered as an internal error.
 */
export function errorOutcome(
  error: unknown,
  onUnexpected: (error: unknown) => void,
): { ok: false; status: number; error: ErrorBody['error'] } {
  if (!(error instanceof TidewayApiError)) onUnexpected(error);
  const apiError =
    error instanceof TidewayApiError
      ? error
      : new TidewayApiError('Internal', 'internal server error; see the server log');
  return { ok: false, status: apiError.status, error: apiError.toBody().error };
}

const OK = { ok: true as const };

function apply(target: ReportTarget, kind: WorkerReportKind, namespace: string, request: unknown): Promise<unknown> {
  // Each operation checks its own request with its own schema (the envelope only said it is there).
  const body = request as never;
  switch (kind) {
    case 'completeWorkflowTask':
      return target.completeWorkflowTask(namespace, body);
    case 'failWorkflowTask':
      return target.failWorkflowTask(namespace, body).then(() => OK);
    case 'completeActivityTask':
      return target.completeActivityTask(namespace, body);
    case 'failActivityTask':
      return target.failActivityTask(namespace, body).then(() => OK);
    case 'fireTimer':
      return target.fireTimer(namespace, body);
  }
}
