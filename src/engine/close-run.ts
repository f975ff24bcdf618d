import type { Failure, HistoryEvent, Payload, WorkflowStatus } from '../protocol/index.js';
import { deleteRunPendingWork, type Queryable, type RunRow } from '../store/index.js';
import { applyParentClosePolicy, reportToParent } from './children.js';
import { appendToRun, type EngineContext, type Notify } from './context.js';
import { notifyKeys } from './notifier.js';
import { queueTaskEvent } from './task-events.js';
import { failUpdatesOfClosedRun } from './updates.js';

/**
 * Closes a run: its closing events are appended, and everything still
 * pending for it (workflow task, activities, timers) is removed in the same
 * transaction, so nothing fires for a closed run. Its children follow their
 * parent close policy; if it is a child, its outcome is queued for its parent.
 */
export async function closeRun(
  ctx: EngineContext,
  tx: Queryable,
  run: RunRow,
  events: readonly HistoryEvent[],
  close: {
    status: Exclude<WorkflowStatus, 'running'>;
    now: number;
    result?: Payload;
    failure?: Failure;
    nextRunId?: string;
  },
  notify: Notify,
  extra: { seenUpToEventId?: number } = {},
): Promise<void> {
  await appendToRun(tx, run, events, {
    status: close.status,
    closeTime: close.now,
    ...(close.result !== undefined ? { result: close.result } : {}),
    ...(close.failure !== undefined ? { failure: close.failure } : {}),
    ...(close.nextRunId !== undefined ? { nextRunId: close.nextRunId } : {}),
    ...extra,
  });
  await deleteRunPendingWork(tx, run.namespace, run.runId);
  run.status = close.status;
  // Result waits of this process get the outcome with the wake-up, and read nothing back.
  const closed: RunRow = {
    ...run,
    closeTime: close.now,
    result: close.result ?? null,
    failure: close.failure ?? null,
    nextRunId: close.nextRunId ?? null,
    ...(extra.seenUpToEventId !== undefined ? { seenUpToEventId: extra.seenUpToEventId } : {}),
  };
  notify(notifyKeys.runClosed(run.namespace, run.runId), closed);
  queueTaskEvent(
    tx,
    run,
    {
      source: 'run',
      kind: 'closed',
      message: close.failure?.message ?? close.status,
      data: { status: close.status, ...(close.nextRunId !== undefined ? { nextRunId: close.nextRunId } : {}) },
    },
    { now: close.now, close: true },
  );
  await failUpdatesOfClosedRun(tx, run, notify);
  // A run handing over to a next run (continue-as-new, a retry) keeps its children and reports
  // nothing to its parent: the chain goes on, and its last run reports.
  if (close.nextRunId !== undefined) return;
  await applyParentClosePolicy(ctx, tx, run, notify);
  await reportToParent(tx, run, close, notify);
}
