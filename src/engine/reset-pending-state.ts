import type { HistoryEvent, HistoryEventOf, NewEvent } from '../protocol/index.js';
import {
  findRunById,
  insertActivityTasks,
  type NewActivityTask,
  type Queryable,
  type RunRow,
  reparentChild,
  type TimerRow,
} from '../store/index.js';
import { nextActivityDeadline } from './activity-deadline.js';
import { activityTimerKey, userTimerKey } from './apply-commands.js';
import { childOutcomeEvent } from './children.js';
import { forgetAfterCommit } from './known-runs.js';
import { notifyKeys } from './notifier.js';
import { setTimer } from './timers.js';

// The pending work a reset run inherits from its history prefix: which
// activities, timers and children the prefix leaves open (a pure function
// of the events), and how the new run takes them over in the store.

/** What a history prefix leaves pending: the state the new run must rebuild. */
export interface PendingState {
  /** ActivityTaskScheduled events with no outcome (and no cancel request) in the prefix. */
  activities: HistoryEventOf<'ActivityTaskScheduled'>[];
  /** TimerStarted events not fired or cancelled in the prefix. */
  timers: HistoryEventOf<'TimerStarted'>[];
  /** Children started in the prefix whose outcome it does not hold. */
  children: { childId: string; workflowId: string; runId: string; initiatedEventId: number }[];
  startedChildren: boolean;
}

/** The functional core of a reset: which activities, timers and children a prefix leaves open. */
export function pendingStateOf(prefix: readonly HistoryEvent[]): PendingState {
  const activities = new Map<number, HistoryEventOf<'ActivityTaskScheduled'>>();
  const timers = new Map<string, HistoryEventOf<'TimerStarted'>>();
  const initiated = new Map<string, number>();
  const children = new Map<string, PendingState['children'][number]>();
  let startedChildren = false;
  for (const event of prefix) {
    switch (event.type) {
      case 'ActivityTaskScheduled':
        activities.set(event.eventId, event);
        break;
      case 'ActivityTaskCompleted':
      case 'ActivityTaskFailed':
      case 'ActivityTaskTimedOut':
      case 'ActivityTaskCanceled':
        activities.delete(event.attributes.scheduledEventId);
        break;
      case 'ActivityTaskCancelRequested':
        // The workflow already gave up on it (its promise rejected); running it again would be wasted.
        for (const [id, scheduled] of activities) {
          if (scheduled.attributes.activityId === event.attributes.activityId) activities.delete(id);
        }
        break;
      case 'TimerStarted':
        timers.set(event.attributes.timerId, event);
        break;
      case 'TimerFired':
      case 'TimerCanceled':
        timers.delete(event.attributes.timerId);
        break;
      case 'StartChildWorkflowExecutionInitiated':
        startedChildren = true;
        initiated.set(event.attributes.childId, event.eventId);
        break;
      case 'ChildWorkflowExecutionStarted': {
        const initiatedEventId = initiated.get(event.attributes.childId);
        if (initiatedEventId === undefined) break;
        children.set(event.attributes.childId, {
          childId: event.attributes.childId,
          workflowId: event.attributes.workflowId,
          runId: event.attributes.runId,
          initiatedEventId,
        });
        break;
      }
      case 'ChildWorkflowExecutionCompleted':
      case 'ChildWorkflowExecutionFailed':
        children.delete(event.attributes.childId);
        break;
      default:
        break;
    }
  }
  return {
    activities: [...activities.values()],
    timers: [...timers.values()],
    children: [...children.values()],
    startedChildren,
  };
}

/**
 * Children started in the prefix whose outcome the prefix does not hold:
 * an outcome the base run received after the reset point is delivered
 * again; a child that is still running is handed over to the new run; one
 * that closed without its parent hearing of it (the base run had closed)
 * has its outcome delivered from its run row.
 */
export async function carryOverChildren(
  tx: Queryable,
  base: RunRow,
  children: PendingState['children'],
  after: readonly HistoryEvent[],
  newRunId: string,
): Promise<NewEvent[]> {
  const events: NewEvent[] = [];
  for (const child of children) {
    const outcome = after.find(
      (e) =>
        (e.type === 'ChildWorkflowExecutionCompleted' || e.type === 'ChildWorkflowExecutionFailed') &&
        e.attributes.childId === child.childId,
    );
    if (outcome) {
      events.push({ type: outcome.type, attributes: outcome.attributes } as NewEvent);
      continue;
    }
    // Follow the child's chain (continue-as-new, retries, resets) to its current run.
    for (let runId: string | null = child.runId, hops = 0; runId && hops < 10_000; hops++) {
      const current = await findRunById(tx, base.namespace, runId);
      if (!current) break;
      if (current.status === 'running') {
        if (current.parentRunId !== base.runId) break;
        if (await reparentChild(tx, base.namespace, current.runId, base.runId, newRunId)) {
          forgetAfterCommit(tx, current);
          break;
        }
        // It closed while we looked (its close held the row): read it again.
        continue;
      }
      if (current.nextRunId) {
        runId = current.nextRunId;
        continue;
      }
      events.push(
        childOutcomeEvent(child.childId, {
          childRunId: current.runId,
          childWorkflowId: current.workflowId,
          childWorkflowType: current.workflowType,
          status: current.status,
          ...(current.result ? { result: current.result } : {}),
          ...(current.failure ? { failure: current.failure } : {}),
        }),
      );
      break;
    }
  }
  return events;
}

/** Activities the prefix left open are dispatched again, from attempt 1, with their recorded options. */
export async function rebuildActivities(
  tx: Queryable,
  run: RunRow,
  scheduled: readonly HistoryEventOf<'ActivityTaskScheduled'>[],
  now: number,
  notify: (key: string) => void,
): Promise<void> {
  const tasks: NewActivityTask[] = scheduled.map((e) => ({
    namespace: run.namespace,
    runId: run.runId,
    scheduledEventId: e.eventId,
    workflowId: run.workflowId,
    workflowType: run.workflowType,
    activityId: e.attributes.activityId,
    activityType: e.attributes.activityType,
    taskQueue: e.attributes.taskQueue,
    input: e.attributes.input,
    scheduledAt: now,
    visibleAt: now,
    scheduleToStartMs: e.attributes.scheduleToStartTimeoutMs ?? null,
    startToCloseMs: e.attributes.startToCloseTimeoutMs ?? null,
    scheduleToCloseMs: e.attributes.scheduleToCloseTimeoutMs ?? null,
    heartbeatMs: e.attributes.heartbeatTimeoutMs ?? null,
    retryPolicy: e.attributes.retryPolicy,
  }));
  await insertActivityTasks(tx, tasks);
  for (const task of tasks) {
    notify(notifyKeys.activityQueue(run.namespace, task.taskQueue));
    const deadline = nextActivityDeadline({ ...task, leased: false, startedAt: null, lastHeartbeatAt: null });
    if (!deadline) continue;
    await setTimer(
      tx,
      {
        namespace: run.namespace,
        runId: run.runId,
        timerKey: activityTimerKey(task.scheduledEventId),
        kind: 'activity-timeout',
        dueAt: deadline.at,
        data: { scheduledEventId: task.scheduledEventId },
      },
      notify,
    );
  }
}

/** Timers the prefix left running keep their original due time (one already due fires at once). */
export async function rebuildTimers(
  tx: Queryable,
  run: RunRow,
  started: readonly HistoryEventOf<'TimerStarted'>[],
  notify: (key: string) => void,
): Promise<void> {
  for (const e of started) {
    const timer: TimerRow = {
      namespace: run.namespace,
      runId: run.runId,
      timerKey: userTimerKey(e.attributes.timerId),
      kind: 'user-timer',
      dueAt: e.attributes.fireAt,
      data: { timerId: e.attributes.timerId, startedEventId: e.eventId },
    };
    await setTimer(tx, timer, notify);
  }
}
