import type { PollRequest, WorkflowTask } from '../protocol/index.js';
import { claimWorkflowTasksAndLook, type NextVisibleTask, nextWorkflowTaskVisibleAt } from '../store/index.js';
import type { EngineContext } from './context.js';
import { workflowTaskClaimedAfterCommit } from './known-runs.js';
import { type PollerRegistry, pollTaskQueue } from './long-poll.js';
import { claimQueryTask } from './queries.js';
import { startWorkflowTasks } from './started-workflow-task.js';
import { queueTaskEvent } from './task-events.js';

// How workflow tasks reach workers by polls, in batches (completions hand
// out the next task themselves: see eager-dispatch.ts). What a completion
// does is in workflow-tasks.ts.

/**
 * Hands out the oldest ready workflow tasks of a queue (up to the poll's
 * `maxTasks`), waiting up to `waitMs` for one. A query waiting for the queue
 * is handed out alone, before any task.
 */
export async function pollWorkflowTasks(
  ctx: EngineContext,
  pollers: PollerRegistry,
  namespace: string,
  raw: PollRequest,
  signal?: AbortSignal,
): Promise<WorkflowTask[]> {
  const tasks = await pollTaskQueue({
    ctx,
    pollers,
    kind: 'workflow',
    namespace,
    raw,
    signal,
    claim: (request, now, sawQueue) => claimBatch(ctx, namespace, request, now, sawQueue),
    nextVisibleAt: (taskQueue, now) => nextWorkflowTaskVisibleAt(ctx.db, namespace, taskQueue, now),
    // Starts may hand the first tasks of their new runs to this poll while it waits (see start-workflow.ts).
    handoffs: (request) => ({
      enter: () =>
        ctx.waitingPolls.enter(namespace, request.taskQueue, request.types, request.maxHandoffs ?? request.maxTasks),
    }),
  });
  return tasks ?? [];
}

/** Leases up to `maxTasks` ready tasks in one transaction; undefined when none is ready. */
async function claimBatch(
  ctx: EngineContext,
  namespace: string,
  request: { taskQueue: string; types: string[]; maxTasks: number },
  now: number,
  sawQueue: (after: NextVisibleTask) => void,
): Promise<WorkflowTask[] | undefined> {
  const leaseId = ctx.newId();
  const finish = await ctx.transition(async (tx): Promise<(() => Promise<WorkflowTask[]>) | undefined> => {
    // Queries first: someone is waiting on each, and answering one changes nothing.
    const query = await claimQueryTask(ctx, tx, namespace, request, now);
    if (query) return async () => [query];
    const { rows, queueAfter } = await claimWorkflowTasksAndLook(tx, {
      namespace,
      taskQueue: request.taskQueue,
      types: request.types,
      now,
      leaseId,
      limit: request.maxTasks,
    });
    sawQueue(queueAfter);
    if (rows.length === 0) return undefined;
    for (const row of rows) {
      const { nextEventId: _n, seenUpToEventId: _s, leaseExpired: _l, run, ...task } = row;
      // The completion of this task can then go without a read first (see known-runs.ts).
      workflowTaskClaimedAfterCommit(tx, run, task);
      if (row.leaseExpired) {
        queueTaskEvent(
          tx,
          row,
          {
            source: 'workflow',
            kind: 'timed-out',
            attempt: row.attempt - 1,
            message: 'workflow task timed out: its worker did not complete it in time (crashed, stuck or cut off)',
          },
          { now },
        );
      }
    }
    return startWorkflowTasks(tx, rows, leaseId, now);
  });
  return finish?.();
}
