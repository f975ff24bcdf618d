import type {
  ActivityTask,
  Command,
  CompleteWorkflowTaskRequest,
  Failure,
  HistoryEvent,
  NewEvent,
} from '../protocol/index.js';
import {
  deleteTimer,
  deleteWorkflowTask,
  insertActivityTasks,
  insertWorkflowTask,
  type Queryable,
  type RunRow,
  readEvents,
  type TimerRow,
  type WorkflowTaskRow,
} from '../store/index.js';
import { requestActivityCancellations } from './activity-tasks.js';
import { applyWorkflowTaskCompletion, type ContinuedRun } from './apply-commands.js';
import { applyParentClosePolicy, requestChildCancellations, startChildren } from './children.js';
import { closeRun } from './close-run.js';
import { appendToRun, deliverToWorkflow, type EngineContext, numberEvents, queuedWorkflowTask } from './context.js';
import { chooseEagerActivities, knownActivitiesOf, startEagerActivities } from './eager-dispatch.js';
import type { KnownActivity, KnownTimer } from './known-runs.js';
import { notifyKeys } from './notifier.js';
import { decideRetry } from './retry.js';
import { createRun } from './start-workflow.js';
import { setTimer } from './timers.js';
import { recordUpdateOutcomes, scheduleTaskForWaitingUpdates } from './updates.js';

/** The workflow task whose commands are recorded. */
export interface CompletedTask {
  /** The last event the workflow had seen when it decided. */
  seenUpToEventId: number;
  /** Workflow time of the task. */
  taskTime: number;
  attempt: number;
  /** Events were appended while the task was leased, so the workflow has not seen them yet. */
  eventsArrivedDuringLease: boolean;
  /** Updates were requested while the task ran: another task must carry them. */
  updatesPending: boolean;
  /** The task has a row to delete. One completed ahead with an activity result never had one. */
  hasRow: boolean;
}

/** What the worker reported, as far as recording it goes. */
export type ReportedCompletion = Pick<
  CompleteWorkflowTaskRequest,
  'bufferedSignals' | 'eagerActivities' | 'wakesTimers'
> & {
  commands: readonly Command[];
  identity: string;
};

/**
 * Records a workflow task's commands: the pure `applyWorkflowTaskCompletion`
 * decides, this writes what it decided — the events, the run's close or
 * continuation, activities, timers, children — and starts the activities
 * handed back to the worker. `precedingEvents` are recorded just before the
 * task's own (an activity result and the task it created, when the result
 * carried the task's completion). Returns the eager activities and, unless
 * the run closed, the events the task itself appended.
 */
export async function recordWorkflowTaskCompletion(
  ctx: EngineContext,
  tx: Queryable,
  run: RunRow,
  task: CompletedTask,
  reported: ReportedCompletion,
  times: { now: number; receivedAt: number; decidedAt?: number },
  notify: (key: string) => void,
  precedingEvents: readonly NewEvent[] = [],
): Promise<RecordedCompletion> {
  const { now, receivedAt, decidedAt } = times;
  const namespace = run.namespace;
  const preceding = numberEvents(run, precedingEvents, now);
  const out = applyWorkflowTaskCompletion({
    run: { ...run, nextEventId: run.nextEventId + preceding.length },
    commands: reported.commands,
    now,
    receivedAt,
    ...(decidedAt !== undefined ? { decidedAt } : {}),
    seenUpToEventId: task.seenUpToEventId,
    taskTime: task.taskTime,
    identity: reported.identity,
    attempt: task.attempt,
    eventsArrivedDuringLease: task.eventsArrivedDuringLease,
    newRunId: ctx.newId(),
    ...(reported.wakesTimers ? { wakesTimers: reported.wakesTimers } : {}),
  });
  const events = [...preceding, ...out.events];
  const closed: RecordedCompletion = { activityTasks: [], newEvents: [] };
  await recordUpdateOutcomes(tx, run, out.updateOutcomes, notify);
  if (out.close?.status === 'continued-as-new') {
    await continueAsNew(ctx, tx, run, events, out.close.next, task.seenUpToEventId, notify);
    return closed;
  }
  if (out.close?.status === 'failed') {
    const retried = await retryFailedRun(ctx, tx, run, events, out.close.failure, task.seenUpToEventId, notify);
    if (retried) return closed;
  }
  if (out.close) {
    await closeRun(ctx, tx, run, events, { ...out.close, now }, notify, { seenUpToEventId: task.seenUpToEventId });
    // Children started in the closing task still start; the close policy then applies to them.
    await startChildren(ctx, tx, run, out.childStarts, notify);
    await applyParentClosePolicy(ctx, tx, run, notify);
    return closed;
  }
  await appendToRun(tx, run, events, {
    seenUpToEventId: task.seenUpToEventId,
    ...(reported.bufferedSignals ? { bufferedSignals: reported.bufferedSignals } : {}),
  });
  if (task.hasRow) await deleteWorkflowTask(tx, namespace, run.runId);
  if (out.scheduleWorkflowTask) {
    await insertWorkflowTask(tx, { ...run, visibleAt: now });
    notify(notifyKeys.workflowQueue(namespace, run.taskQueue));
  }
  const eager = chooseEagerActivities(out.activityTasks, run, reported.eagerActivities, now, ctx.newId);
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
  // What the run's task rows now are, when nothing here changed them in ways not followed (see known-runs.ts).
  const followed =
    out.updateOutcomes.length === 0 &&
    out.cancelledActivityIds.length === 0 &&
    out.childCancels.length === 0 &&
    out.childStarts.length === 0 &&
    !task.updatesPending;
  const after = followed
    ? {
        workflowTask: out.scheduleWorkflowTask ? queuedWorkflowTask(run, now) : null,
        activities: knownActivitiesOf(eager.tasks),
        timers: { started: knownTimersOf(out.timers), cancelled: out.cancelledTimerKeys },
      }
    : undefined;
  return { activityTasks, newEvents: out.events, ...(after ? { after } : {}) };
}

/** The workflow timers among timers a completion set, as known from then on (see known-runs.ts). */
function knownTimersOf(timers: readonly TimerRow[]): Map<string, KnownTimer> {
  const known = new Map<string, KnownTimer>();
  for (const timer of timers) {
    if (timer.kind !== 'user-timer') continue;
    const fireAt = typeof timer.data.fireAt === 'number' ? timer.data.fireAt : timer.dueAt;
    known.set(timer.timerKey, { startedEventId: Number(timer.data.startedEventId), fireAt });
  }
  return known;
}

/** What recording a workflow task's completion gives back. */
export interface RecordedCompletion {
  /** Activities started for the reporting worker. */
  activityTasks: ActivityTask[];
  /** The events the task appended (none if the run closed). */
  newEvents: HistoryEvent[];
  /** The run's workflow task and new activities, when the run stays open and they are all known. */
  after?: {
    workflowTask: WorkflowTaskRow | null;
    activities: KnownActivity[];
    timers: { started: ReadonlyMap<string, KnownTimer>; cancelled: readonly string[] };
  };
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
