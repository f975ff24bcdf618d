import {
  type BulkOperationRequest,
  BulkOperationRequestSchema,
  type BulkOperationResponse,
  type BulkRunOutcome,
  TidewayApiError,
} from '../protocol/index.js';
import { countRuns, listRuns, type RunFilter, type RunRow } from '../store/index.js';
import { checkNamespace, type EngineContext } from './context.js';
import { parseRequest } from './parse.js';
import { resetWorkflow } from './reset.js';
import { cancelWorkflow, terminateWorkflow } from './signals.js';

const DEFAULT_REASONS = {
  terminate: 'terminated by a bulk operation',
  cancel: 'cancelled by a bulk operation',
  reset: 'reset by a bulk operation',
} as const;

/** Runs listed per store round trip while collecting targets. */
const PAGE = 500;

/**
 * Terminate, cancel or reset every run a list filter matches. The matching
 * runs are collected first (newest first, at most `maxRuns`), then each is
 * handled in its own transaction, so one that closed meanwhile is skipped
 * and the others still go through. A dry run only counts and lists them.
 * Terminate and cancel apply to running runs; reset to the latest run of
 * each matching workflow id (resetting an older one would supersede it).
 */
export async function bulkWorkflowOperation(
  ctx: EngineContext,
  namespace: string,
  raw: BulkOperationRequest,
): Promise<BulkOperationResponse> {
  checkNamespace(namespace);
  const request = parseRequest(BulkOperationRequestSchema, raw, 'bulk operation request');
  const { operation, filter } = request;
  if (operation !== 'reset' && filter.status && filter.status !== 'running') {
    throw new TidewayApiError(
      'InvalidArgument',
      `only running workflows can be ${operation === 'cancel' ? 'cancelled' : 'terminated'}, but the filter asks ` +
        `for status "${filter.status}"; drop the status filter (running runs are implied)`,
    );
  }
  const runFilter: RunFilter = {
    ...filter,
    ...(operation === 'reset' ? { latestOnly: true } : { status: 'running' }),
  };
  const matched = await countRuns(ctx.db, namespace, runFilter);
  const targets = await collectTargets(ctx, namespace, runFilter, request.maxRuns);
  const truncated = matched > targets.length;
  if (request.dryRun) {
    return {
      operation,
      dryRun: true,
      matched,
      affected: targets.length,
      notAffected: 0,
      truncated,
      runs: targets.slice(0, request.listLimit).map((run) => summary(run)),
    };
  }
  const reason = request.reason ?? DEFAULT_REASONS[operation];
  const outcomes: BulkRunOutcome[] = [];
  for (const run of targets) {
    if (ctx.closing.aborted) break;
    outcomes.push(await applyOne(ctx, namespace, run, request, reason));
  }
  const done = (o: BulkRunOutcome) => o.outcome !== 'failed' && o.outcome !== 'skipped';
  return {
    operation,
    dryRun: false,
    matched,
    affected: outcomes.filter(done).length,
    notAffected: outcomes.filter((o) => !done(o)).length,
    truncated: truncated || outcomes.length < targets.length,
    runs: [...outcomes.filter((o) => !done(o)), ...outcomes.filter(done)].slice(0, request.listLimit),
  };
}

async function collectTargets(
  ctx: EngineContext,
  namespace: string,
  filter: RunFilter,
  maxRuns: number,
): Promise<RunRow[]> {
  const targets: RunRow[] = [];
  let after: RunFilter['after'];
  while (targets.length < maxRuns) {
    const want = Math.min(PAGE, maxRuns - targets.length);
    const page = await listRuns(ctx.db, namespace, { ...filter, after }, want);
    targets.push(...page);
    const last = page[page.length - 1];
    if (page.length < want || !last) break;
    after = { startTime: last.startTime, runId: last.runId };
  }
  return targets;
}

async function applyOne(
  ctx: EngineContext,
  namespace: string,
  run: RunRow,
  request: ReturnType<typeof BulkOperationRequestSchema.parse>,
  reason: string,
): Promise<BulkRunOutcome> {
  const ref = { workflowId: run.workflowId, runId: run.runId, reason, identity: request.identity };
  try {
    switch (request.operation) {
      case 'terminate':
        await terminateWorkflow(ctx, namespace, ref);
        return summary(run, { outcome: 'terminated' });
      case 'cancel':
        await cancelWorkflow(ctx, namespace, ref);
        return summary(run, { outcome: 'cancel-requested' });
      case 'reset': {
        const reset = await resetWorkflow(ctx, namespace, {
          ...ref,
          ...(request.resetTo === 'first-workflow-task' ? { toFirstWorkflowTask: true } : { toLastWorkflowTask: true }),
          reapplySignals: request.reapplySignals,
        });
        return summary(run, { outcome: 'reset', newRunId: reset.runId });
      }
    }
  } catch (error) {
    if (!(error instanceof TidewayApiError)) throw error;
    // Terminate and cancel need a running run: one that closed since it was listed no longer qualifies.
    const skipped = request.operation !== 'reset' && error.code === 'FailedPrecondition';
    return summary(run, { outcome: skipped ? 'skipped' : 'failed', error: error.message });
  }
}

function summary(run: RunRow, extra: Partial<BulkRunOutcome> = {}): BulkRunOutcome {
  return {
    workflowId: run.workflowId,
    runId: run.runId,
    workflowType: run.workflowType,
    status: run.status,
    ...extra,
  };
}
