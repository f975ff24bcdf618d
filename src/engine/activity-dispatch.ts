import type { ActivityTask, PollRequest } from '../protocol/index.js';
import {
  type ActivityTaskRow,
  claimActivityTasksAndLook,
  deleteTimer,
  type NextVisibleTask,
  nextActivityTaskVisibleAt,
  type Queryable,
} from '../store/index.js';
import { nextActivityDeadline } from './activity-deadline.js';
import { activityTimerKey } from './apply-commands.js';
import type { EngineContext } from './context.js';
import { activityLeasedAfterCommit } from './known-runs.js';
import { type PollerRegistry, pollTaskQueue } from './long-poll.js';
import { queueTaskEvent } from './task-events.js';
import { encodeTaskToken } from './task-token.js';
import { setTimer } from './timers.js';

// How activity attempts reach workers: handed out by polls (in batches), or
// started eagerly by the workflow task completion that scheduled them. What
// happens when they report is in activity-tasks.ts.

/**
 * Hands out the oldest ready activity tasks of a queue among the types this
 * worker registered, up to the poll's `maxTasks`.
 */
export async function pollActivityTasks(
  ctx: EngineContext,
  pollers: PollerRegistry,
  namespace: string,
  raw: PollRequest,
  signal?: AbortSignal,
): Promise<ActivityTask[]> {
  const tasks = await pollTaskQueue({
    ctx,
    pollers,
    kind: 'activity',
    namespace,
    raw,
    signal,
    claim: (request, now, sawQueue) => claimBatch(ctx, namespace, request, now, sawQueue),
    nextVisibleAt: (taskQueue, now) => nextActivityTaskVisibleAt(ctx.db, namespace, taskQueue, now),
  });
  return tasks ?? [];
}

/** Leases up to `maxTasks` ready activity tasks in one transaction; undefined when none is ready. */
async function claimBatch(
  ctx: EngineContext,
  namespace: string,
  request: { taskQueue: string; types: string[]; maxTasks: number },
  now: number,
  sawQueue: (after: NextVisibleTask) => void,
): Promise<ActivityTask[] | undefined> {
  const leaseId = ctx.newId();
  return ctx.transition(async (tx, notify) => {
    const { rows, queueAfter } = await claimActivityTasksAndLook(tx, {
      namespace,
      taskQueue: request.taskQueue,
      types: request.types,
      now,
      leaseId,
      limit: request.maxTasks,
    });
    sawQueue(queueAfter);
    if (rows.length === 0) return undefined;
    const tasks: ActivityTask[] = [];
    for (const row of rows) {
      activityLeasedAfterCommit(tx, row);
      tasks.push(await startActivityAttempt(tx, row, leaseId, now, notify));
    }
    return tasks;
  });
}

/**
 * An attempt just leased (by a poll, or eagerly by the workflow task
 * completion that scheduled it): its timer now enforces the started
 * attempt's timeouts, watchers hear it started, and the worker gets it.
 */
export async function startActivityAttempt(
  tx: Queryable,
  row: ActivityTaskRow,
  leaseId: string,
  now: number,
  notify: (key: string) => void,
): Promise<ActivityTask> {
  await rescheduleActivityTimer(tx, row, notify);
  queueTaskEvent(tx, row, { ...activityEventFields(row), kind: 'started' }, { now });
  // When the attempt must be done by: heartbeats push the heartbeat deadline, so it is not the attempt's.
  const deadline = nextActivityDeadline({ ...row, leased: true, heartbeatMs: null })?.at;
  return {
    taskToken: encodeTaskToken({
      kind: 'activity',
      namespace: row.namespace,
      runId: row.runId,
      scheduledEventId: row.scheduledEventId,
      leaseId,
    }),
    workflowId: row.workflowId,
    runId: row.runId,
    workflowType: row.workflowType,
    activityId: row.activityId,
    activityType: row.activityType,
    taskQueue: row.taskQueue,
    args: row.input,
    attempt: row.attempt,
    scheduledTime: row.scheduledAt,
    startedTime: now,
    ...(row.heartbeatDetails ? { heartbeatDetails: row.heartbeatDetails } : {}),
    ...(row.heartbeatMs ? { heartbeatTimeoutMs: row.heartbeatMs } : {}),
    ...(row.startToCloseMs ? { startToCloseTimeoutMs: row.startToCloseMs } : {}),
    ...(deadline !== undefined ? { deadline } : {}),
  };
}

/**
 * Points the activity's timer at its next deadline for its current state.
 * Returns when the current attempt must finish, if any timeout bounds it.
 */
export async function rescheduleActivityTimer(
  tx: Queryable,
  row: ActivityTaskRow,
  notify: (key: string) => void,
): Promise<number | undefined> {
  const key = activityTimerKey(row.scheduledEventId);
  const next = nextActivityDeadline({ ...row, leased: row.leaseId !== null });
  if (!next) {
    await deleteTimer(tx, row.namespace, row.runId, key);
    return undefined;
  }
  await setTimer(
    tx,
    {
      namespace: row.namespace,
      runId: row.runId,
      timerKey: key,
      kind: 'activity-timeout',
      dueAt: next.at,
      data: { scheduledEventId: row.scheduledEventId },
    },
    notify,
  );
  return next.at;
}

/** The fields every task event of an activity attempt carries. */
export function activityEventFields(activity: Pick<ActivityTaskRow, 'activityId' | 'activityType' | 'attempt'>) {
  return {
    source: 'activity' as const,
    activityId: activity.activityId,
    activityType: activity.activityType,
    attempt: activity.attempt,
  };
}
