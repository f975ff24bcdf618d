import {
  type CompleteActivityTaskRequest,
  CompleteActivityTaskRequestSchema,
  type CompleteActivityTaskResponse,
  type FailActivityTaskRequest,
  FailActivityTaskRequestSchema,
  type Failure,
  type NewEvent,
  TidewayApiError,
} from '../protocol/index.js';
import {
  type ActivityTaskRow,
  activityTaskStatement,
  deleteActivityTaskAndTimer,
  findActivityTaskById,
  lockRunStatement,
  markActivityCancelRequested,
  type Queryable,
  queryEach,
  type RunRow,
  retryActivityTask,
  type WorkflowTaskRow,
  workflowTaskStatement,
} from '../store/index.js';
import { activityEventFields, rescheduleActivityTimer } from './activity-dispatch.js';
import { activityTimerKey } from './apply-commands.js';
import { isRecordable, recordResultWithNextTask, sawWholeHistory } from './chained-workflow-task.js';
import {
  checkNamespace,
  checkPayloadSize,
  type Delivered,
  type DeliveryOptions,
  deliverToWorkflow,
  type EngineContext,
  requireRunning,
} from './context.js';
import { activitiesAfter, knownActivity, onKnownState, timersAfter } from './known-completion.js';
import { type KnownActivity, knowAfterCommit } from './known-runs.js';
import { notifyKeys } from './notifier.js';
import { parseRequest } from './parse.js';
import { decideRetry } from './retry.js';
import { startWorkflowTasks } from './started-workflow-task.js';
import { queueTaskEvent } from './task-events.js';
import { decodeTaskToken, type TaskToken } from './task-token.js';
import { transitionTogether } from './transition-batches.js';

type ActivityTaskToken = Extract<TaskToken, { kind: 'activity' }>;

async function lockLeasedActivity(
  tx: Queryable,
  namespace: string,
  token: ActivityTaskToken,
): Promise<{ run: RunRow; activity: ActivityTaskRow; workflowTask: WorkflowTaskRow | null }> {
  // The run's lock, then the activity's, then the run's workflow task (an outcome is delivered through it),
  // in one round trip (see queryEach).
  const [runs, activities, workflowTasks] = (await queryEach(tx, [
    lockRunStatement(namespace, token.runId),
    activityTaskStatement(namespace, token.runId, token.scheduledEventId, true),
    workflowTaskStatement(namespace, token.runId),
  ])) as [RunRow[], ActivityTaskRow[], WorkflowTaskRow[]];
  const run = requireRunning(runs[0], 'activity task');
  const activity = activities[0];
  if (!activity) {
    throw new TidewayApiError(
      'NotFound',
      `activity task of workflow "${run.workflowId}" is no longer leased by this worker: the activity already ` +
        'finished (completed, failed or cancelled); this report was not recorded',
    );
  }
  if (activity.leaseId !== token.leaseId) {
    throw new TidewayApiError(
      'NotFound',
      `activity task of workflow "${run.workflowId}" is no longer leased by this worker: this attempt timed out ` +
        `or failed and attempt ${activity.attempt} ${activity.leaseId ? 'is running' : 'is scheduled'}; ` +
        'this report was not recorded',
    );
  }
  return { run, activity, workflowTask: workflowTasks[0] ?? null };
}

/**
 * Records an activity's result exactly once and wakes its workflow; with
 * `nextWorkflowTask`, also the completion of the workflow task it creates,
 * when that completion saw the whole history (see chained-workflow-task.ts).
 */
export async function completeActivityTask(
  ctx: EngineContext,
  namespace: string,
  raw: CompleteActivityTaskRequest,
): Promise<CompleteActivityTaskResponse> {
  checkNamespace(namespace);
  const request = parseRequest(CompleteActivityTaskRequestSchema, raw, 'activity task completion');
  checkPayloadSize(ctx, request.result, 'the activity result');
  const receivedAt = ctx.clock.now();
  const ahead =
    request.nextWorkflowTask && isRecordable(ctx, request.nextWorkflowTask) ? request.nextWorkflowTask : undefined;
  const token = decodeTaskToken(request.taskToken, 'activity', namespace);
  const { finishEagerTask, chained } = await onKnownState(ctx, namespace, token.runId, (known) =>
    transitionTogether(ctx, 'completions', { namespace, runId: token.runId }, async (tx, notify) => {
      const loaded = (await knownActivity(ctx, tx, known, token.scheduledEventId, token.leaseId)) ?? {
        ...(await lockLeasedActivity(tx, namespace, token)),
        activities: new Map<number, KnownActivity>(),
      };
      const { run, activity, workflowTask: existingTask } = loaded;
      const ended = activity.scheduledEventId;
      if (ahead && run.taskQueue === activity.taskQueue && sawWholeHistory(run, existingTask, ahead, ctx.clock.now())) {
        await dropActivity(tx, run, activity);
        const recorded = await recordResultWithNextTask(
          ctx,
          tx,
          run,
          activity,
          { result: request.result, identity: request.identity, next: ahead, receivedAt },
          notify,
        );
        if (recorded.after) {
          const { workflowTask, activities, timers } = recorded.after;
          knowAfterCommit(tx, {
            run,
            workflowTask,
            activities: activitiesAfter(loaded.activities, ended, activities),
            timers: timersAfter(loaded.timers, undefined, timers),
          });
        }
        return { finishEagerTask: undefined, chained: recorded };
      }
      // Eager dispatch: the reporting worker runs this workflow on this queue, so the task this result
      // creates is leased to it here and returned, instead of waiting in the queue for a poll.
      const eagerLease =
        request.eagerWorkflowTypes?.includes(run.workflowType) && run.taskQueue === activity.taskQueue
          ? ctx.newId()
          : undefined;
      const seenUpToEventId = run.seenUpToEventId;
      const { leasedNewTask, workflowTask } = await finishActivity(
        ctx,
        tx,
        run,
        activity,
        notify,
        {
          type: 'ActivityTaskCompleted',
          attributes: {
            scheduledEventId: activity.scheduledEventId,
            result: request.result,
            attempt: activity.attempt,
            identity: request.identity,
          },
        },
        { leaseNewTaskAs: eagerLease, existingTask },
      );
      knowAfterCommit(tx, {
        run,
        workflowTask,
        activities: activitiesAfter(loaded.activities, ended, []),
        timers: timersAfter(loaded.timers, undefined, undefined),
      });
      if (!leasedNewTask || !eagerLease) return { finishEagerTask: undefined, chained: undefined };
      return {
        finishEagerTask: await startWorkflowTasks(
          tx,
          [{ ...run, attempt: 1, updatesPending: false, seenUpToEventId }],
          eagerLease,
          ctx.clock.now(),
        ),
        chained: undefined,
      };
    }),
  );
  if (chained) {
    const { activityTasks, newEvents } = chained;
    return {
      ok: true,
      nextWorkflowTask: {
        applied: true,
        ...(newEvents.length > 0 ? { newEvents } : {}),
        ...(activityTasks.length > 0 ? { activityTasks } : {}),
      },
    };
  }
  const workflowTask = (await finishEagerTask?.())?.[0];
  return {
    ok: true,
    ...(workflowTask ? { workflowTask } : {}),
    ...(request.nextWorkflowTask ? { nextWorkflowTask: { applied: false } } : {}),
  };
}

/** An activity's rows go away: its task and its timeout timer. */
async function dropActivity(tx: Queryable, run: RunRow, activity: KnownActivity): Promise<void> {
  await deleteActivityTaskAndTimer(
    tx,
    run.namespace,
    run.runId,
    activity.scheduledEventId,
    activityTimerKey(activity.scheduledEventId),
  );
}

/** Ends an activity for good: its final event goes to history and its rows go away. */
export async function finishActivity(
  ctx: EngineContext,
  tx: Queryable,
  run: RunRow,
  activity: KnownActivity,
  notify: (key: string) => void,
  event: NewEvent,
  delivery: DeliveryOptions = {},
): Promise<Delivered> {
  await dropActivity(tx, run, activity);
  const delivered = await deliverToWorkflow(ctx, tx, run, [event], notify, delivery);
  const outcome = ACTIVITY_OUTCOME_EVENT[event.type as keyof typeof ACTIVITY_OUTCOME_EVENT];
  if (outcome) {
    const failure = (event.attributes as { failure?: Failure }).failure;
    queueTaskEvent(
      tx,
      run,
      { ...activityEventFields(activity), kind: outcome, ...(failure ? { message: failure.message } : {}) },
      { now: ctx.clock.now() },
    );
  }
  return delivered;
}

/** The task event that reports each way an activity ends. */
const ACTIVITY_OUTCOME_EVENT = {
  ActivityTaskCompleted: 'completed',
  ActivityTaskFailed: 'failed',
  ActivityTaskTimedOut: 'timed-out',
  ActivityTaskCanceled: 'cancelled',
} as const;

/**
 * An attempt failed: retried after backoff if the policy allows (no history
 * written), otherwise the failure is recorded and the workflow sees it.
 */
export async function failActivityTask(
  ctx: EngineContext,
  namespace: string,
  raw: FailActivityTaskRequest,
): Promise<void> {
  checkNamespace(namespace);
  const request = parseRequest(FailActivityTaskRequestSchema, raw, 'activity task failure');
  checkPayloadSize(ctx, request.failure, 'the activity failure');
  const token = decodeTaskToken(request.taskToken, 'activity', namespace);
  await ctx.transition(async (tx, notify) => {
    const { run, activity } = await lockLeasedActivity(tx, namespace, token);
    await retryOrFailActivity(ctx, tx, run, activity, request.failure, request.identity, notify);
  });
}

export async function retryOrFailActivity(
  ctx: EngineContext,
  tx: Queryable,
  run: RunRow,
  activity: ActivityTaskRow,
  failure: Failure,
  identity: string,
  notify: (key: string) => void,
  timeoutType?: 'startToClose' | 'heartbeat',
): Promise<void> {
  if (activity.cancelRequested) {
    // The workflow asked it to stop: whatever ended this attempt ends the activity, as cancelled.
    await finishActivity(ctx, tx, run, activity, notify, {
      type: 'ActivityTaskCanceled',
      attributes: { scheduledEventId: activity.scheduledEventId, attempt: activity.attempt, identity, failure },
    });
    return;
  }
  const now = ctx.clock.now();
  const decision = decideRetry({
    policy: activity.retryPolicy,
    attempt: activity.attempt,
    failure,
    now,
    deadline: activity.scheduleToCloseMs ? activity.scheduledAt + activity.scheduleToCloseMs : undefined,
    random: ctx.random,
  });
  if (decision.retry) {
    const visibleAt = now + decision.delayMs;
    if (timeoutType) {
      queueTaskEvent(
        tx,
        run,
        { ...activityEventFields(activity), kind: 'timed-out', message: failure.message, data: { timeoutType } },
        { now },
      );
    }
    queueTaskEvent(
      tx,
      run,
      {
        ...activityEventFields(activity),
        kind: 'retrying',
        message: failure.message,
        data: { nextAttempt: activity.attempt + 1, retryAt: visibleAt },
      },
      { now },
    );
    await retryActivityTask(tx, {
      namespace: run.namespace,
      runId: run.runId,
      scheduledEventId: activity.scheduledEventId,
      visibleAt,
      failure,
    });
    await rescheduleActivityTimer(
      tx,
      { ...activity, attempt: activity.attempt + 1, leaseId: null, startedAt: null, visibleAt },
      notify,
    );
    notify(notifyKeys.activityQueue(run.namespace, activity.taskQueue));
    return;
  }
  const activityFailure: Failure = {
    message: `activity ${activity.activityType} (id ${activity.activityId}) failed after ${activity.attempt} attempt(s): ${failure.message}`,
    type: 'ActivityFailure',
    info: {
      activityType: activity.activityType,
      activityId: activity.activityId,
      attempt: activity.attempt,
      retryState: decision.retryState,
    },
    cause: failure,
  };
  const event: NewEvent = timeoutType
    ? {
        type: 'ActivityTaskTimedOut',
        attributes: {
          scheduledEventId: activity.scheduledEventId,
          failure: activityFailure,
          attempt: activity.attempt,
          timeoutType,
        },
      }
    : {
        type: 'ActivityTaskFailed',
        attributes: {
          scheduledEventId: activity.scheduledEventId,
          failure: activityFailure,
          attempt: activity.attempt,
          identity,
          retryState: decision.retryState,
        },
      };
  await finishActivity(ctx, tx, run, activity, notify, event);
}

/**
 * The workflow asked to cancel activities it scheduled earlier: one not yet
 * started is dropped at once; a started one is told at its next heartbeat.
 */
export async function requestActivityCancellations(
  tx: Queryable,
  run: RunRow,
  activityIds: readonly string[],
): Promise<void> {
  for (const activityId of activityIds) {
    const activity = await findActivityTaskById(tx, run.namespace, run.runId, activityId);
    if (!activity) continue;
    if (activity.leaseId) {
      await markActivityCancelRequested(tx, run.namespace, run.runId, activity.scheduledEventId);
      continue;
    }
    await dropActivity(tx, run, activity);
  }
}
