import {
  type CompleteWorkflowTaskRequest,
  CompleteWorkflowTaskRequestSchema,
  type CompleteWorkflowTaskResponse,
  type Failure,
  type FailWorkflowTaskRequest,
  FailWorkflowTaskRequestSchema,
  type HistoryEvent,
  TidewayApiError,
} from '../protocol/index.js';
import {
  deleteTimer,
  deleteWorkflowTask,
  insertActivityTasks,
  insertWorkflowTask,
  lockRunStatement,
  type Queryable,
  queryEach,
  type RunRow,
  readEvents,
  retryWorkflowTask,
  type WorkflowTaskRow,
  workflowTaskStatement,
} from '../store/index.js';
import { requestActivityCancellations } from './activity-tasks.js';
import { applyWorkflowTaskCompletion, type ContinuedRun } from './apply-commands.js';
import { applyParentClosePolicy, requestChildCancellations, startChildren } from './children.js';
import { closeRun } from './close-run.js';
import {
  appendToRun,
  checkNamespace,
  checkPayloadSize,
  deliverToWorkflow,
  type EngineContext,
  numberEvents,
  requireRunning,
} from './context.js';
import { chooseEagerActivities, startEagerActivities } from './eager-dispatch.js';
import { notifyKeys } from './notifier.js';
import { parseRequest } from './parse.js';
import { decideRetry } from './retry.js';
import { createRun } from './start-workflow.js';
import { queueTaskEvent } from './task-events.js';
import { decodeTaskToken } from './task-token.js';
import { setTimer } from './timers.js';
import { recordUpdateOutcomes, scheduleTaskForWaitingUpdates } from './updates.js';

/** Loads the run and its leased workflow task for a completion, rejecting stale or foreign leases. */
async function lockLeasedTask(tx: Queryable, namespace: string, taskToken: string) {
  const token = decodeTaskToken(taskToken, 'workflow', namespace);
  // The run's lock, then its task as committed once the lock is held, in one round trip (see queryEach).
  const [runs, tasks] = (await queryEach(tx, [
    lockRunStatement(namespace, token.runId),
    workflowTaskStatement(namespace, token.runId),
  ])) as [RunRow[], WorkflowTaskRow[]];
  const run = requireRunning(runs[0], 'workflow task');
  const task = tasks[0];
  if (!task || task.leaseId !== token.leaseId || task.lastEventIdAtLease === null || task.leasedAt === null) {
    throw new TidewayApiError(
      'NotFound',
      `workflow task for "${run.workflowId}" is no longer leased by this worker (its lease expired and it was handed out again, or it was already completed)`,
    );
  }
  return { run, task: task as WorkflowTaskRow & { lastEventIdAtLease: number; leasedAt: number } };
}

/**
 * Applies a workflow task's commands in one transaction: the pure
 * `applyWorkflowTaskCompletion` decides, this writes what it decided.
 */
export async function completeWorkflowTask(
  ctx: EngineContext,
  namespace: string,
  raw: CompleteWorkflowTaskRequest,
): Promise<CompleteWorkflowTaskResponse> {
  checkNamespace(namespace);
  const request = parseRequest(CompleteWorkflowTaskRequestSchema, raw, 'workflow task completion');
  request.commands.forEach((command, i) => {
    checkPayloadSize(ctx, command, `command ${i} (${command.type})`);
  });
  const receivedAt = ctx.clock.now();
  return ctx.transition(async (tx, notify): Promise<CompleteWorkflowTaskResponse> => {
    const { run, task } = await lockLeasedTask(tx, namespace, request.taskToken);
    const now = ctx.clock.now();
    for (const event of request.taskEvents ?? []) {
      queueTaskEvent(tx, run, { ...event, source: 'workflow', attempt: task.attempt }, { now });
    }
    queueTaskEvent(tx, run, { source: 'workflow', kind: 'completed', attempt: task.attempt }, { now });
    const eventsArrivedDuringLease = run.nextEventId - 1 > task.lastEventIdAtLease;
    if (task.speculative && !eventsArrivedDuringLease && request.commands.every((c) => c.type === 'RejectUpdate')) {
      // Only rejected updates: no trace in history, as if the task never happened.
      await deleteWorkflowTask(tx, namespace, run.runId);
      await recordUpdateOutcomes(
        tx,
        run,
        request.commands.map((c) => ({ updateId: c.updateId, status: 'rejected' as const, failure: c.failure })),
        notify,
      );
      if (task.updatesPending) await scheduleTaskForWaitingUpdates(tx, run, now, notify);
      return { ok: true };
    }
    const out = applyWorkflowTaskCompletion({
      run,
      commands: request.commands,
      now,
      receivedAt,
      seenUpToEventId: task.lastEventIdAtLease,
      taskTime: task.leasedAt,
      identity: request.identity,
      attempt: task.attempt,
      eventsArrivedDuringLease,
      newRunId: ctx.newId(),
    });
    await recordUpdateOutcomes(tx, run, out.updateOutcomes, notify);
    if (out.close?.status === 'continued-as-new') {
      await continueAsNew(ctx, tx, run, out.events, out.close.next, task.lastEventIdAtLease, notify);
      return { ok: true };
    }
    if (out.close?.status === 'failed') {
      const retried = await retryFailedRun(
        ctx,
        tx,
        run,
        out.events,
        out.close.failure,
        task.lastEventIdAtLease,
        notify,
      );
      if (retried) return { ok: true };
    }
    if (out.close) {
      await closeRun(ctx, tx, run, out.events, { ...out.close, now }, notify, {
        seenUpToEventId: task.lastEventIdAtLease,
      });
      // Children started in the closing task still start; the close policy then applies to them.
      await startChildren(ctx, tx, run, out.childStarts, notify);
      await applyParentClosePolicy(ctx, tx, run, notify);
      return { ok: true };
    }
    await appendToRun(tx, run, out.events, {
      seenUpToEventId: task.lastEventIdAtLease,
      ...(request.bufferedSignals ? { bufferedSignals: request.bufferedSignals } : {}),
    });
    await deleteWorkflowTask(tx, namespace, run.runId);
    if (out.scheduleWorkflowTask) {
      await insertWorkflowTask(tx, { ...run, visibleAt: now });
      notify(notifyKeys.workflowQueue(namespace, run.taskQueue));
    }
    const eager = chooseEagerActivities(out.activityTasks, run, request.eagerActivities, now, ctx.newId);
    await insertActivityTasks(tx, eager.tasks);
    for (const a of eager.tasks) if (!a.lease) notify(notifyKeys.activityQueue(namespace, a.taskQueue));
    // An eagerly started activity's timer is set for its started attempt below, not for waiting in the queue.
    for (const timer of out.timers) if (!eager.timerKeys.has(timer.timerKey)) await setTimer(tx, timer, notify);
    for (const key of out.cancelledTimerKeys) await deleteTimer(tx, namespace, run.runId, key);
    await requestActivityCancellations(tx, run, out.cancelledActivityIds);
    await requestChildCancellations(ctx, tx, run, out.childCancels, notify);
    const childEvents = await startChildren(ctx, tx, run, out.childStarts, notify);
    if (childEvents.length > 0) await deliverToWorkflow(ctx, tx, run, childEvents, notify);
    // Updates requested while this task ran need another task to carry them.
    if (task.updatesPending) await scheduleTaskForWaitingUpdates(tx, run, now, notify);
    const activityTasks = await startEagerActivities(tx, eager.tasks, now, notify);
    return activityTasks.length > 0 ? { ok: true, activityTasks } : { ok: true };
  });
}

/**
 * Closes the run as continued-as-new and starts its successor under the
 * same workflow id, in the same transaction: nothing can slip in between.
 * The successor keeps the run timeout, workflow task timeout and the
 * execution deadline of the chain.
 */
async function continueAsNew(
  ctx: EngineContext,
  tx: Queryable,
  run: RunRow,
  events: HistoryEvent[],
  next: ContinuedRun,
  seenUpToEventId: number,
  notify: (key: string) => void,
  retry?: { attempt: number; delayMs: number; failure: Failure },
): Promise<void> {
  const now = ctx.clock.now();
  const started = await startedEvent(tx, run);
  await closeRun(
    ctx,
    tx,
    run,
    events,
    retry
      ? { status: 'failed', now, failure: retry.failure, nextRunId: next.runId }
      : { status: 'continued-as-new', now, nextRunId: next.runId },
    notify,
    { seenUpToEventId },
  );
  await createRun(
    ctx,
    tx,
    run.namespace,
    {
      workflowId: run.workflowId,
      workflowType: next.workflowType,
      taskQueue: next.taskQueue,
      args: next.input,
      workflowTaskTimeoutMs: run.workflowTaskTimeoutMs,
      ...(started.runTimeoutMs !== undefined ? { runTimeoutMs: started.runTimeoutMs } : {}),
      ...(started.retryPolicy ? { retryPolicy: started.retryPolicy } : {}),
    },
    notify,
    {
      runId: next.runId,
      executionDeadline: run.executionDeadline,
      // The successor answers to the same parent, if any.
      ...(run.parentRunId && run.parentInitiatedEventId !== null
        ? {
            parent: {
              runId: run.parentRunId,
              initiatedEventId: run.parentInitiatedEventId,
              closePolicy: run.parentClosePolicy ?? 'terminate',
            },
          }
        : {}),
      ...(retry ? { attempt: retry.attempt, firstTaskDelayMs: retry.delayMs } : {}),
    },
  );
}

async function startedEvent(tx: Queryable, run: RunRow) {
  const [started] = await readEvents(tx, run.namespace, run.runId, 1, 1);
  if (started?.type !== 'WorkflowExecutionStarted') throw new Error(`run ${run.runId} has no start event`);
  return started.attributes;
}

/**
 * A run failed: if its workflow has a retry policy that allows another
 * attempt (within its execution timeout), the run closes as failed, linked
 * to a new run with the same input, whose first task waits for the backoff.
 */
async function retryFailedRun(
  ctx: EngineContext,
  tx: Queryable,
  run: RunRow,
  events: HistoryEvent[],
  failure: Failure,
  seenUpToEventId: number,
  notify: (key: string) => void,
): Promise<boolean> {
  const started = await startedEvent(tx, run);
  if (!started.retryPolicy) return false;
  const attempt = started.attempt ?? 1;
  const decision = decideRetry({
    policy: started.retryPolicy,
    attempt,
    failure,
    now: ctx.clock.now(),
    deadline: run.executionDeadline ?? undefined,
    random: ctx.random,
  });
  if (!decision.retry) return false;
  const next: ContinuedRun = {
    runId: ctx.newId(),
    workflowType: run.workflowType,
    taskQueue: run.taskQueue,
    input: started.input,
  };
  await continueAsNew(ctx, tx, run, events, next, seenUpToEventId, notify, {
    attempt: attempt + 1,
    delayMs: decision.delayMs,
    failure,
  });
  return true;
}

/** Backoff for a failing workflow task: 1 s doubling to at most 60 s. */
export function workflowTaskRetryDelayMs(attempt: number): number {
  return Math.min(1000 * 2 ** (attempt - 1), 60_000);
}

/**
 * A worker could not run the workflow task (non-determinism, an unknown
 * workflow type, a determinism violation). The run stays open; the task is
 * retried with backoff, so deploying fixed code lets it continue. The first
 * failure of a streak goes into history; later attempts update the task row.
 */
export async function failWorkflowTask(
  ctx: EngineContext,
  namespace: string,
  raw: FailWorkflowTaskRequest,
): Promise<void> {
  checkNamespace(namespace);
  const request = parseRequest(FailWorkflowTaskRequestSchema, raw, 'workflow task failure');
  await ctx.transition(async (tx, notify) => {
    const { run, task } = await lockLeasedTask(tx, namespace, request.taskToken);
    const now = ctx.clock.now();
    const retryAt = now + workflowTaskRetryDelayMs(task.attempt);
    queueTaskEvent(
      tx,
      run,
      {
        source: 'workflow',
        kind: 'failed',
        attempt: task.attempt,
        message: request.failure.message,
        data: { cause: request.cause, retryAt },
      },
      { now },
    );
    if (task.attempt === 1) {
      await appendToRun(
        tx,
        run,
        numberEvents(
          run,
          [
            {
              type: 'WorkflowTaskFailed',
              attributes: {
                failure: request.failure,
                cause: request.cause,
                attempt: task.attempt,
                identity: request.identity,
              },
            },
          ],
          now,
        ),
      );
    }
    await retryWorkflowTask(tx, {
      namespace,
      runId: run.runId,
      visibleAt: retryAt,
      failure: { ...request.failure, info: { ...request.failure.info, cause: request.cause } },
    });
    // Waiting pollers re-read the queue and learn when the retry becomes visible.
    notify(notifyKeys.workflowQueue(namespace, run.taskQueue));
  });
}
