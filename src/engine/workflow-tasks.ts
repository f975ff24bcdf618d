import type { z } from 'zod';
import {
  type CompleteWorkflowTaskRequest,
  CompleteWorkflowTaskRequestSchema,
  type CompleteWorkflowTaskResponse,
  type FailWorkflowTaskRequest,
  FailWorkflowTaskRequestSchema,
  TidewayApiError,
} from '../protocol/index.js';
import {
  deleteWorkflowTask,
  lockRunStatement,
  type Queryable,
  queryEach,
  type RunRow,
  retryWorkflowTask,
  type WorkflowTaskRow,
  workflowTaskStatement,
} from '../store/index.js';
import {
  appendToRun,
  checkNamespace,
  checkPayloadSize,
  type EngineContext,
  type Notify,
  numberEvents,
  requireRunning,
} from './context.js';
import {
  activitiesAfter,
  type KnownWorkflowTaskCompletion,
  knownWorkflowTask,
  onKnownState,
  timersAfter,
} from './known-completion.js';
import { forgetAfterCommit, knowAfterCommit } from './known-runs.js';
import { notifyKeys } from './notifier.js';
import { parseRequest } from './parse.js';
import { recordWorkflowTaskCompletion } from './record-completion.js';
import { queueTaskEvent } from './task-events.js';
import { decodeTaskToken, type TaskToken } from './task-token.js';
import { transitionTogether } from './transition-batches.js';
import { recordUpdateOutcomes, scheduleTaskForWaitingUpdates } from './updates.js';

/** Loads the run and its leased workflow task for a completion, rejecting stale or foreign leases. */
async function lockLeasedTask(tx: Queryable, namespace: string, token: Extract<TaskToken, { kind: 'workflow' }>) {
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
  const token = decodeTaskToken(request.taskToken, 'workflow', namespace);
  return onKnownState(ctx, namespace, token.runId, (known) =>
    transitionTogether(
      ctx,
      'completions',
      { namespace, runId: token.runId },
      async (tx, notify): Promise<CompleteWorkflowTaskResponse> => {
        const { run, task, activities } = (await knownWorkflowTask(ctx, tx, known, token.leaseId)) ?? {
          ...(await lockLeasedTask(tx, namespace, token)),
          activities: new Map(),
        };
        return recordCompletion(ctx, tx, notify, { run, task, activities }, request, receivedAt);
      },
    ),
  );
}

/** Records a completion of the run's leased task, and what the run then is if all of it is known. */
async function recordCompletion(
  ctx: EngineContext,
  tx: Queryable,
  notify: Notify,
  { run, task, activities, timers }: KnownWorkflowTaskCompletion,
  request: z.output<typeof CompleteWorkflowTaskRequestSchema>,
  receivedAt: number,
): Promise<CompleteWorkflowTaskResponse> {
  const now = ctx.clock.now();
  for (const event of request.taskEvents ?? []) {
    queueTaskEvent(tx, run, { ...event, source: 'workflow', attempt: task.attempt }, { now });
  }
  queueTaskEvent(tx, run, { source: 'workflow', kind: 'completed', attempt: task.attempt }, { now });
  const eventsArrivedDuringLease = run.nextEventId - 1 > task.lastEventIdAtLease;
  if (task.speculative && !eventsArrivedDuringLease && request.commands.every((c) => c.type === 'RejectUpdate')) {
    // Only rejected updates: no trace in history, as if the task never happened.
    await deleteWorkflowTask(tx, run.namespace, run.runId);
    await recordUpdateOutcomes(
      tx,
      run,
      request.commands.map((c) => ({ updateId: c.updateId, status: 'rejected' as const, failure: c.failure })),
      notify,
    );
    if (task.updatesPending) await scheduleTaskForWaitingUpdates(tx, run, now, notify);
    forgetAfterCommit(tx, run);
    return { ok: true };
  }
  const { activityTasks, newEvents, after } = await recordWorkflowTaskCompletion(
    ctx,
    tx,
    run,
    {
      seenUpToEventId: task.lastEventIdAtLease,
      taskTime: task.leasedAt,
      attempt: task.attempt,
      eventsArrivedDuringLease,
      updatesPending: task.updatesPending,
      hasRow: true,
    },
    request,
    { now, receivedAt, ...(request.decidedAt !== undefined ? { decidedAt: request.decidedAt } : {}) },
    notify,
  );
  if (after) {
    knowAfterCommit(tx, {
      run,
      workflowTask: after.workflowTask,
      activities: activitiesAfter(activities, undefined, after.activities),
      timers: timersAfter(timers, undefined, after.timers),
    });
  }
  return {
    ok: true,
    ...(activityTasks.length > 0 ? { activityTasks } : {}),
    ...(request.returnNewEvents && newEvents.length > 0 ? { newEvents } : {}),
  };
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
  const token = decodeTaskToken(request.taskToken, 'workflow', namespace);
  await ctx.transition(async (tx, notify) => {
    const { run, task } = await lockLeasedTask(tx, namespace, token);
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
    forgetAfterCommit(tx, run);
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
