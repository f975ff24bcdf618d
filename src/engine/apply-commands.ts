import {
  type Command,
  type CommandOf,
  type CommandType,
  type Failure,
  type HistoryEvent,
  type NewEvent,
  type ParentClosePolicy,
  type Payload,
  type RetryPolicy,
  TidewayApiError,
  withRetryDefaults,
} from '../protocol/index.js';
import type { NewActivityTask, TimerRow } from '../store/index.js';
import { nextActivityDeadline } from './activity-deadline.js';
import type { UpdateOutcomeChange } from './updates.js';

/**
 * The functional core of a workflow task completion: the run and the
 * worker's commands in; numbered events, new activity tasks, timers and the
 * run's new status out. No I/O, so it is tested with plain data; the engine
 * applies the result in one transaction.
 */
export interface CompletionInput {
  run: {
    namespace: string;
    runId: string;
    workflowId: string;
    workflowType: string;
    taskQueue: string;
    nextEventId: number;
  };
  commands: readonly Command[];
  now: number;
  /**
   * When the completion reached the engine, before it waited for a connection
   * and the run's lock: a timer counts from here, so time spent queueing
   * behind other transitions does not make it late. Defaults to `now`.
   */
  receivedAt?: number;
  /**
   * When the worker says the task's code had run (its clock): a timer counts from here if it falls
   * between the task's time and `receivedAt`, so the report's time on its way does not make it late.
   */
  decidedAt?: number;
  /** The last event the worker had seen (the history's last event when the task was leased). */
  seenUpToEventId: number;
  taskTime: number;
  identity: string;
  attempt: number;
  /** Events were appended while the task was leased, so the workflow has not seen them yet. */
  eventsArrivedDuringLease: boolean;
  /** The id the next run gets if the workflow continues as new. */
  newRunId: string;
  /** Timers the worker will report itself when due (`wakesTimers`): the timer service waits a grace period for it. */
  wakesTimers?: readonly string[];
}

/**
 * How long after a timer is due the engine's timer service waits for the
 * worker that promised to report it (see `wakesTimers`) before firing it
 * itself. Only a worker that died or lost track makes a timer this late.
 */
export const TIMER_WAKE_GRACE_MS = 200;

export interface CompletionOutput {
  events: HistoryEvent[];
  activityTasks: NewActivityTask[];
  timers: TimerRow[];
  /** Timer rows to delete (cancelled timers), by key. */
  cancelledTimerKeys: string[];
  /** Activities scheduled by earlier tasks that the workflow asked to cancel, by activity id. */
  cancelledActivityIds: string[];
  /** Child workflows to start, with the event that records each start. */
  childStarts: ChildStart[];
  /** Child workflows (by workflow id) the workflow asked to cancel. */
  childCancels: string[];
  /** What the task decided about updates: accepted, rejected (no history), completed. */
  updateOutcomes: UpdateOutcomeChange[];
  close?:
    | { status: 'completed'; result: Payload }
    | { status: 'failed'; failure: Failure }
    | { status: 'cancelled'; failure: Failure }
    | { status: 'continued-as-new'; next: ContinuedRun };
  scheduleWorkflowTask: boolean;
}

/** The run a ContinueAsNew command starts, in the same transaction that closes this one. */
export interface ContinuedRun {
  runId: string;
  workflowType: string;
  taskQueue: string;
  input: Payload[];
}

export interface ChildStart {
  initiatedEventId: number;
  childId: string;
  workflowId: string;
  workflowType: string;
  taskQueue: string;
  input: Payload[];
  parentClosePolicy: ParentClosePolicy;
  executionTimeoutMs?: number | undefined;
  runTimeoutMs?: number | undefined;
  retryPolicy?: RetryPolicy | undefined;
}

/** Default start-to-close timeout when a workflow gives neither it nor schedule-to-close. */
export const DEFAULT_START_TO_CLOSE_MS = 10 * 60_000;

type CommandHandler<K extends CommandType> = (command: CommandOf<K>, ctx: BuildContext) => void;

interface BuildContext {
  input: CompletionInput;
  out: CompletionOutput;
  append(event: NewEvent): number;
}

/** One handler per command kind; adding a command kind does not compile until it is handled here. */
const handlers: { [K in CommandType]: CommandHandler<K> } = {
  ScheduleActivity(command, ctx) {
    const { run, now } = ctx.input;
    const taskQueue = command.taskQueue ?? run.taskQueue;
    const startToCloseTimeoutMs =
      command.startToCloseTimeoutMs ?? command.scheduleToCloseTimeoutMs ?? DEFAULT_START_TO_CLOSE_MS;
    const retryPolicy = withRetryDefaults(command.retryPolicy);
    const eventId = ctx.append({
      type: 'ActivityTaskScheduled',
      attributes: {
        activityId: command.activityId,
        activityType: command.activityType,
        taskQueue,
        input: command.input,
        ...(command.scheduleToStartTimeoutMs !== undefined
          ? { scheduleToStartTimeoutMs: command.scheduleToStartTimeoutMs }
          : {}),
        startToCloseTimeoutMs,
        ...(command.scheduleToCloseTimeoutMs !== undefined
          ? { scheduleToCloseTimeoutMs: command.scheduleToCloseTimeoutMs }
          : {}),
        ...(command.heartbeatTimeoutMs !== undefined ? { heartbeatTimeoutMs: command.heartbeatTimeoutMs } : {}),
        retryPolicy,
      },
    });
    const task: NewActivityTask = {
      namespace: run.namespace,
      runId: run.runId,
      scheduledEventId: eventId,
      workflowId: run.workflowId,
      workflowType: run.workflowType,
      activityId: command.activityId,
      activityType: command.activityType,
      taskQueue,
      input: command.input,
      scheduledAt: now,
      visibleAt: now,
      scheduleToStartMs: command.scheduleToStartTimeoutMs ?? null,
      startToCloseMs: startToCloseTimeoutMs,
      scheduleToCloseMs: command.scheduleToCloseTimeoutMs ?? null,
      heartbeatMs: command.heartbeatTimeoutMs ?? null,
      retryPolicy,
    };
    ctx.out.activityTasks.push(task);
    const deadline = nextActivityDeadline({ ...task, leased: false, startedAt: null, lastHeartbeatAt: null });
    if (deadline) {
      ctx.out.timers.push({
        namespace: run.namespace,
        runId: run.runId,
        timerKey: activityTimerKey(eventId),
        kind: 'activity-timeout',
        dueAt: deadline.at,
        data: { scheduledEventId: eventId },
      });
    }
  },
  RequestCancelActivity(command, ctx) {
    ctx.append({ type: 'ActivityTaskCancelRequested', attributes: { activityId: command.activityId } });
    const sameTask = ctx.out.activityTasks.findIndex((a) => a.activityId === command.activityId);
    if (sameTask === -1) {
      ctx.out.cancelledActivityIds.push(command.activityId);
      return;
    }
    // Scheduled and cancelled in one task: it is never dispatched at all.
    const [dropped] = ctx.out.activityTasks.splice(sameTask, 1);
    const timerKey = activityTimerKey(dropped!.scheduledEventId);
    ctx.out.timers = ctx.out.timers.filter((t) => t.timerKey !== timerKey);
  },
  StartTimer(command, ctx) {
    const { run, now, receivedAt, decidedAt, taskTime } = ctx.input;
    const arrived = Math.min(receivedAt ?? now, now);
    // The worker's clock is believed only where the engine's allows it: after the task began, and before
    // the report arrived. Never before the task's time, the workflow's own clock when it asked.
    const from =
      decidedAt === undefined ? arrived : Math.max(Math.min(decidedAt, arrived), Math.min(taskTime, arrived));
    const fireAt = from + command.durationMs;
    const eventId = ctx.append({
      type: 'TimerStarted',
      attributes: { timerId: command.timerId, durationMs: command.durationMs, fireAt },
    });
    // A timer the worker will report keeps its true due time in `fireAt`; the row's due time is the timer service's.
    const wokenByWorker = ctx.input.wakesTimers?.includes(command.timerId) ?? false;
    ctx.out.timers.push({
      namespace: run.namespace,
      runId: run.runId,
      timerKey: userTimerKey(command.timerId),
      kind: 'user-timer',
      dueAt: wokenByWorker ? fireAt + TIMER_WAKE_GRACE_MS : fireAt,
      data: { timerId: command.timerId, startedEventId: eventId, ...(wokenByWorker ? { fireAt } : {}) },
    });
  },
  CancelTimer(command, ctx) {
    ctx.append({ type: 'TimerCanceled', attributes: { timerId: command.timerId } });
    ctx.out.cancelledTimerKeys.push(userTimerKey(command.timerId));
  },
  RecordMarker(command, ctx) {
    ctx.append({
      type: 'MarkerRecorded',
      attributes: {
        markerName: command.markerName,
        markerId: command.markerId,
        ...(command.value ? { value: command.value } : {}),
      },
    });
  },
  StartChildWorkflow(command, ctx) {
    const taskQueue = command.taskQueue ?? ctx.input.run.taskQueue;
    const initiatedEventId = ctx.append({
      type: 'StartChildWorkflowExecutionInitiated',
      attributes: {
        childId: command.childId,
        workflowId: command.workflowId,
        workflowType: command.workflowType,
        taskQueue,
        input: command.input,
        parentClosePolicy: command.parentClosePolicy,
      },
    });
    ctx.out.childStarts.push({ ...command, taskQueue, initiatedEventId });
  },
  RequestCancelChildWorkflow(command, ctx) {
    ctx.append({
      type: 'ChildWorkflowCancelRequested',
      attributes: { childId: command.childId, workflowId: command.workflowId },
    });
    ctx.out.childCancels.push(command.workflowId);
  },
  AcceptUpdate(command, ctx) {
    ctx.append({
      type: 'WorkflowExecutionUpdateAccepted',
      attributes: { updateId: command.updateId, updateName: command.updateName, input: command.input },
    });
    ctx.out.updateOutcomes.push({ updateId: command.updateId, status: 'accepted' });
  },
  RejectUpdate(command, ctx) {
    ctx.out.updateOutcomes.push({ updateId: command.updateId, status: 'rejected', failure: command.failure });
  },
  CompleteUpdate(command, ctx) {
    ctx.append({
      type: 'WorkflowExecutionUpdateCompleted',
      attributes: {
        updateId: command.updateId,
        ...(command.result ? { result: command.result } : {}),
        ...(command.failure ? { failure: command.failure } : {}),
      },
    });
    ctx.out.updateOutcomes.push({
      updateId: command.updateId,
      status: 'completed',
      result: command.result,
      failure: command.failure,
    });
  },
  CancelWorkflow(command, ctx) {
    ctx.append({ type: 'WorkflowExecutionCanceled', attributes: { reason: command.reason } });
    ctx.out.close = { status: 'cancelled', failure: { message: command.reason, type: 'CancelledFailure' } };
  },
  ContinueAsNew(command, ctx) {
    const { run, newRunId } = ctx.input;
    const next: ContinuedRun = {
      runId: newRunId,
      workflowType: command.workflowType ?? run.workflowType,
      taskQueue: command.taskQueue ?? run.taskQueue,
      input: command.input,
    };
    ctx.append({
      type: 'WorkflowExecutionContinuedAsNew',
      attributes: { newRunId, workflowType: next.workflowType, taskQueue: next.taskQueue, input: next.input },
    });
    ctx.out.close = { status: 'continued-as-new', next };
  },
  CompleteWorkflow(command, ctx) {
    ctx.append({ type: 'WorkflowExecutionCompleted', attributes: { result: command.result } });
    ctx.out.close = { status: 'completed', result: command.result };
  },
  FailWorkflow(command, ctx) {
    ctx.append({ type: 'WorkflowExecutionFailed', attributes: { failure: command.failure } });
    ctx.out.close = { status: 'failed', failure: command.failure };
  },
};

export function activityTimerKey(scheduledEventId: number): string {
  return `activity/${scheduledEventId}`;
}

export function userTimerKey(timerId: string): string {
  return `timer/${timerId}`;
}

export function applyWorkflowTaskCompletion(input: CompletionInput): CompletionOutput {
  validateCommands(input.commands);
  const out: CompletionOutput = {
    events: [],
    activityTasks: [],
    timers: [],
    cancelledTimerKeys: [],
    cancelledActivityIds: [],
    childStarts: [],
    childCancels: [],
    updateOutcomes: [],
    scheduleWorkflowTask: false,
  };
  let nextEventId = input.run.nextEventId;
  const ctx: BuildContext = {
    input,
    out,
    append(event) {
      const eventId = nextEventId++;
      out.events.push({ ...event, eventId, timestamp: input.now } as HistoryEvent);
      return eventId;
    },
  };
  ctx.append({
    type: 'WorkflowTaskCompleted',
    attributes: {
      seenUpToEventId: input.seenUpToEventId,
      taskTime: input.taskTime,
      identity: input.identity,
      attempt: input.attempt,
    },
  });
  for (const command of input.commands) {
    (handlers[command.type] as CommandHandler<CommandType>)(command, ctx);
  }
  if (!out.close && input.eventsArrivedDuringLease) {
    ctx.append({ type: 'WorkflowTaskScheduled', attributes: { taskQueue: input.run.taskQueue } });
    out.scheduleWorkflowTask = true;
  }
  return out;
}

export function validateCommands(commands: readonly Command[]): void {
  const activityIds = new Set<string>();
  const timerIds = new Set<string>();
  commands.forEach((command, index) => {
    const closes =
      command.type === 'CompleteWorkflow' ||
      command.type === 'FailWorkflow' ||
      command.type === 'CancelWorkflow' ||
      command.type === 'ContinueAsNew';
    if (closes && index !== commands.length - 1) {
      throw new TidewayApiError(
        'InvalidArgument',
        `command ${index} (${command.type}) closes the workflow but is not the last command`,
      );
    }
    if (command.type === 'ScheduleActivity') {
      if (activityIds.has(command.activityId)) {
        throw new TidewayApiError('InvalidArgument', `activity id "${command.activityId}" is scheduled twice`);
      }
      activityIds.add(command.activityId);
    }
    if (command.type === 'StartTimer') {
      if (timerIds.has(command.timerId)) {
        throw new TidewayApiError('InvalidArgument', `timer id "${command.timerId}" is started twice`);
      }
      timerIds.add(command.timerId);
    }
  });
}
