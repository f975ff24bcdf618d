import type { Failure, HistoryEvent, Payload, WorkflowStatus } from '../protocol/index.js';
import {
  deleteRunActivityTasks,
  deleteRunTimers,
  deleteWorkflowTask,
  type Queryable,
  type RunRow,
} from '../store/index.js';
import { appendToRun } from './context.js';
import { notifyKeys } from './notifier.js';

/**
 * Closes a run: its closing events are appended, and everything still
 * pending for it (workflow task, activities, timers) is removed in the same
 * transaction, so nothing fires for a closed run.
 */
export async function closeRun(
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
  notify: (key: string) => void,
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
  await deleteWorkflowTask(tx, run.namespace, run.runId);
  await deleteRunActivityTasks(tx, run.namespace, run.runId);
  await deleteRunTimers(tx, run.namespace, run.runId);
  run.status = close.status;
  notify(notifyKeys.runClosed(run.namespace, run.runId));
}
