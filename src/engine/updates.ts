import {
  type Failure,
  TidewayApiError,
  type UpdateOutcome,
  type UpdateWorkflowRequest,
  UpdateWorkflowRequestSchema,
} from '../protocol/index.js';
import {
  failOpenUpdates,
  findRun,
  flagRun,
  flagUpdatesPending,
  getUpdate,
  getWorkflowTask,
  insertUpdate,
  insertWorkflowTask,
  listRequestedUpdates,
  lockRun,
  type Queryable,
  type RunRow,
  setUpdateOutcome,
  type UpdateRow,
} from '../store/index.js';
import { checkNamespace, checkPayloadSize, type EngineContext } from './context.js';
import { forgetAfterCommit } from './known-runs.js';
import { notifyKeys } from './notifier.js';
import { parseRequest } from './parse.js';

/**
 * Updates: a request the workflow validates and then handles, returning a
 * result. The request waits in the updates table until a workflow task
 * carries it to a worker; a rejected update leaves no trace in history, an
 * accepted one is recorded and survives crashes until its handler finishes.
 */
export const updateChanged = (namespace: string, runId: string, updateId: string) =>
  `u:${namespace}:${runId}:${updateId}`;

function outcomeOf(row: UpdateRow): UpdateOutcome {
  return {
    updateId: row.updateId,
    runId: row.runId,
    stage: row.status,
    ...(row.result ? { result: row.result } : {}),
    ...(row.failure ? { failure: row.failure } : {}),
  };
}

function reached(stage: UpdateOutcome['stage'], waitFor: 'accepted' | 'completed'): boolean {
  if (stage === 'rejected' || stage === 'completed') return true;
  return waitFor === 'accepted' && stage === 'accepted';
}

export async function updateWorkflow(
  ctx: EngineContext,
  namespace: string,
  raw: { workflowId: string } & UpdateWorkflowRequest,
): Promise<UpdateOutcome> {
  checkNamespace(namespace);
  const request = parseRequest(UpdateWorkflowRequestSchema, raw, 'update request');
  checkPayloadSize(ctx, request.args, 'the update input');
  const updateId = request.updateId ?? ctx.newId();
  const found = await findRun(ctx.db, namespace, raw.workflowId, request.runId);
  if (!found) {
    throw new TidewayApiError('NotFound', `workflow "${raw.workflowId}" not found in namespace "${namespace}"`);
  }
  const runId = found.runId;
  const changed = ctx.notifier.subscribe(updateChanged(namespace, runId, updateId));
  try {
    await ctx.transition(async (tx, notify) => {
      const run = await lockRun(tx, namespace, runId);
      if (!run || (await getUpdate(tx, namespace, runId, updateId))) return; // a retry: wait for the same update
      if (run.status !== 'running') {
        throw new TidewayApiError(
          'FailedPrecondition',
          `cannot update: workflow "${run.workflowId}" is not running (status: ${run.status})`,
        );
      }
      if (!run.hasUpdates) await flagRun(tx, namespace, runId, 'has_updates');
      await insertUpdate(tx, {
        namespace,
        runId,
        updateId,
        workflowId: run.workflowId,
        updateName: request.updateName,
        args: request.args,
        createdAt: ctx.clock.now(),
      });
      await ensureTaskForUpdates(tx, run, ctx.clock.now(), notify);
    });
    const deadline = Date.now() + request.waitMs;
    for (;;) {
      const row = await getUpdate(ctx.db, namespace, runId, updateId);
      if (!row) throw new TidewayApiError('NotFound', `update "${updateId}" not found`);
      const remaining = deadline - Date.now();
      if (reached(row.status, request.waitFor) || remaining <= 0 || ctx.closing.aborted) return outcomeOf(row);
      await changed.wait(remaining, ctx.closing);
    }
  } finally {
    changed.dispose();
  }
}

/**
 * Updates travel in workflow tasks. With none pending, a speculative one
 * is created: it records nothing in history unless the workflow accepts an
 * update (or something else happens meanwhile).
 */
export async function ensureTaskForUpdates(
  tx: Queryable,
  run: RunRow,
  now: number,
  notify: (key: string) => void,
): Promise<void> {
  // The run's task changes without its history moving: what this engine knew of it is out of date.
  forgetAfterCommit(tx, run);
  if (await getWorkflowTask(tx, run.namespace, run.runId)) {
    await flagUpdatesPending(tx, run.namespace, run.runId);
    return;
  }
  await insertWorkflowTask(tx, { ...run, visibleAt: now, speculative: true });
  notify(notifyKeys.workflowQueue(run.namespace, run.taskQueue));
}

export interface UpdateOutcomeChange {
  updateId: string;
  status: 'accepted' | 'rejected' | 'completed';
  result?: UpdateRow['result'] | undefined;
  failure?: Failure | undefined;
}

/** Stores what a workflow task decided about updates and wakes their callers. */
export async function recordUpdateOutcomes(
  tx: Queryable,
  run: RunRow,
  outcomes: readonly UpdateOutcomeChange[],
  notify: (key: string) => void,
): Promise<void> {
  for (const outcome of outcomes) {
    await setUpdateOutcome(tx, {
      namespace: run.namespace,
      runId: run.runId,
      updateId: outcome.updateId,
      status: outcome.status,
      result: outcome.result ?? undefined,
      failure: outcome.failure,
    });
    notify(updateChanged(run.namespace, run.runId, outcome.updateId));
  }
}

/** After a task completed: updates that arrived meanwhile need another task. */
export async function scheduleTaskForWaitingUpdates(
  tx: Queryable,
  run: RunRow,
  now: number,
  notify: (key: string) => void,
): Promise<void> {
  if ((await listRequestedUpdates(tx, run.namespace, run.runId)).length === 0) return;
  await ensureTaskForUpdates(tx, run, now, notify);
}

/** A closed run answers no more updates: their callers get a failure instead of waiting forever. */
export async function failUpdatesOfClosedRun(tx: Queryable, run: RunRow, notify: (key: string) => void): Promise<void> {
  if (!run.hasUpdates) return;
  const failed = await failOpenUpdates(tx, run.namespace, run.runId, {
    message: `workflow "${run.workflowId}" closed (${run.status}) before the update completed`,
    type: 'WorkflowClosed',
  });
  for (const updateId of failed) notify(updateChanged(run.namespace, run.runId, updateId));
}
