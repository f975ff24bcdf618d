import type { NewEvent, NextWorkflowTask, Payload } from '../protocol/index.js';
import type { Queryable, RunRow, WorkflowTaskRow } from '../store/index.js';
import { activityEventFields } from './activity-dispatch.js';
import { validateCommands } from './apply-commands.js';
import { type EngineContext, payloadBytes } from './context.js';
import type { KnownActivity } from './known-runs.js';
import { type RecordedCompletion, recordWorkflowTaskCompletion } from './record-completion.js';
import { queueTaskEvent } from './task-events.js';

/*
 * An activity result that carries the completion of the workflow task it
 * creates. A worker holding the run in memory delivers the result to the
 * workflow itself, runs the code on, and reports both at once: an activity
 * step then costs one transaction and one round trip, not two.
 *
 * The workflow decided on the history as the worker's copy has it, ending at
 * `afterEventId`, plus this result. So the completion is recorded only if
 * that is still the whole history: the run's last event is `afterEventId`
 * and no workflow task is pending (a signal, a fired timer, an update or a
 * cancellation request would have added one). Otherwise the engine records
 * the result alone, and its workflow task runs as usual.
 */

/**
 * How far a worker's task time may be from the engine's clock: ahead by the
 * clock skew between machines (more would let the next regular task move
 * workflow time back), behind by that plus the time the code took to run.
 */
const MAX_TASK_TIME_AHEAD_MS = 1_000;
const MAX_TASK_TIME_BEHIND_MS = 5_000;

/**
 * Whether a completion worked out ahead can be recorded at all, whatever the
 * run's state: commands the engine would refuse, or larger than the payload
 * limit, are left to the regular workflow task, which reports the problem.
 */
export function isRecordable(ctx: EngineContext, next: NextWorkflowTask): boolean {
  if (next.commands.some((command) => payloadBytes(command) > ctx.maxPayloadBytes)) return false;
  try {
    validateCommands(next.commands);
    return true;
  } catch {
    return false;
  }
}

/** Whether the workflow saw the run's whole history when it decided (see above). */
export function sawWholeHistory(
  run: RunRow,
  pendingTask: WorkflowTaskRow | null,
  next: NextWorkflowTask,
  now: number,
): boolean {
  return (
    pendingTask === null &&
    run.nextEventId - 1 === next.afterEventId &&
    next.taskTime <= now + MAX_TASK_TIME_AHEAD_MS &&
    next.taskTime >= now - MAX_TASK_TIME_BEHIND_MS
  );
}

/**
 * Records the result, the workflow task it creates, and that task's
 * completion, in the caller's transaction. History reads as if a worker had
 * polled the task at `taskTime` and completed it at once.
 */
export async function recordResultWithNextTask(
  ctx: EngineContext,
  tx: Queryable,
  run: RunRow,
  activity: KnownActivity,
  report: { result: Payload; identity: string; next: NextWorkflowTask; receivedAt: number },
  notify: (key: string) => void,
): Promise<RecordedCompletion> {
  queueTaskEvent(tx, run, { ...activityEventFields(activity), kind: 'completed' }, { now: ctx.clock.now() });
  const event: NewEvent = {
    type: 'ActivityTaskCompleted',
    attributes: {
      scheduledEventId: activity.scheduledEventId,
      result: report.result,
      attempt: activity.attempt,
      identity: report.identity,
    },
  };
  return recordEventWithNextTask(ctx, tx, run, event, report, notify);
}

/**
 * Records `event` (an activity result, a fired timer), the workflow task it
 * creates, and that task's completion worked out ahead by the worker, in the
 * caller's transaction.
 */
export async function recordEventWithNextTask(
  ctx: EngineContext,
  tx: Queryable,
  run: RunRow,
  event: NewEvent,
  report: { identity: string; next: NextWorkflowTask; receivedAt: number },
  notify: (key: string) => void,
): Promise<RecordedCompletion> {
  const now = ctx.clock.now();
  const { next, identity } = report;
  queueTaskEvent(tx, run, { source: 'workflow', kind: 'started', attempt: 1 }, { now });
  for (const event of next.taskEvents ?? []) {
    queueTaskEvent(tx, run, { ...event, source: 'workflow', attempt: 1 }, { now });
  }
  queueTaskEvent(tx, run, { source: 'workflow', kind: 'completed', attempt: 1 }, { now });
  const preceding: NewEvent[] = [event, { type: 'WorkflowTaskScheduled', attributes: { taskQueue: run.taskQueue } }];
  return recordWorkflowTaskCompletion(
    ctx,
    tx,
    run,
    {
      // The event and the task's scheduling are the last events the workflow saw.
      seenUpToEventId: run.nextEventId + preceding.length - 1,
      taskTime: next.taskTime,
      attempt: 1,
      eventsArrivedDuringLease: false,
      updatesPending: false,
      hasRow: false,
    },
    {
      commands: next.commands,
      identity,
      ...(next.bufferedSignals ? { bufferedSignals: next.bufferedSignals } : {}),
      ...(next.eagerActivities ? { eagerActivities: next.eagerActivities } : {}),
      ...(next.wakesTimers ? { wakesTimers: next.wakesTimers } : {}),
    },
    { now, receivedAt: report.receivedAt, ...(next.decidedAt !== undefined ? { decidedAt: next.decidedAt } : {}) },
    notify,
    preceding,
  );
}
