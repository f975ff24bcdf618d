import { describe, expect, it } from 'vitest';
import {
  type Command,
  DEFAULT_RETRY_POLICY,
  type HistoryEventOf,
  TidewayApiError,
  toPayload,
} from '../protocol/index.js';
import {
  activityTimerKey,
  applyWorkflowTaskCompletion,
  type CompletionInput,
  DEFAULT_START_TO_CLOSE_MS,
  userTimerKey,
} from './apply-commands.js';

const NOW = 1_700_000_000_000;
const TASK_TIME = NOW - 250;

const run = {
  namespace: 'ns',
  runId: 'run-1',
  workflowId: 'order-1',
  workflowType: 'processOrder',
  taskQueue: 'orders',
  nextEventId: 8,
};

function complete(commands: Command[], overrides: Partial<CompletionInput> = {}) {
  return applyWorkflowTaskCompletion({
    run,
    commands,
    now: NOW,
    newRunId: 'run-2',
    seenUpToEventId: 7,
    taskTime: TASK_TIME,
    identity: 'worker-a',
    attempt: 2,
    eventsArrivedDuringLease: false,
    ...overrides,
  });
}

const schedule = (activityId: string, extra: Partial<Command & { type: 'ScheduleActivity' }> = {}): Command => ({
  type: 'ScheduleActivity',
  activityId,
  activityType: 'charge',
  input: [toPayload({ amount: 5 })],
  ...extra,
});

function rejection(fn: () => unknown): TidewayApiError {
  try {
    fn();
  } catch (error) {
    expect(error).toBeInstanceOf(TidewayApiError);
    return error as TidewayApiError;
  }
  throw new Error('expected the completion to be rejected');
}

describe('applyWorkflowTaskCompletion', () => {
  it('numbers events from the run’s next event id, WorkflowTaskCompleted first', () => {
    const out = complete([schedule('1'), { type: 'StartTimer', timerId: '1', durationMs: 1000 }]);
    expect(out.events.map((e) => [e.eventId, e.type])).toEqual([
      [8, 'WorkflowTaskCompleted'],
      [9, 'ActivityTaskScheduled'],
      [10, 'TimerStarted'],
    ]);
    expect(out.events[0]).toEqual({
      eventId: 8,
      type: 'WorkflowTaskCompleted',
      timestamp: NOW,
      attributes: { seenUpToEventId: 7, taskTime: TASK_TIME, identity: 'worker-a', attempt: 2 },
    });
    for (const event of out.events) expect(event.timestamp).toBe(NOW);
    expect(out.close).toBeUndefined();
    expect(out.scheduleWorkflowTask).toBe(false);
  });

  it('records only WorkflowTaskCompleted for a task with no commands', () => {
    const out = complete([]);
    expect(out.events.map((e) => e.type)).toEqual(['WorkflowTaskCompleted']);
    expect(out.activityTasks).toEqual([]);
    expect(out.timers).toEqual([]);
  });

  describe('ScheduleActivity', () => {
    it('fills defaults: the run’s task queue, a 10 minute start-to-close, the default retry policy', () => {
      const out = complete([schedule('1')]);
      const event = out.events[1] as HistoryEventOf<'ActivityTaskScheduled'>;
      expect(event.attributes).toEqual({
        activityId: '1',
        activityType: 'charge',
        taskQueue: 'orders',
        input: [toPayload({ amount: 5 })],
        startToCloseTimeoutMs: DEFAULT_START_TO_CLOSE_MS,
        retryPolicy: DEFAULT_RETRY_POLICY,
      });
      expect(DEFAULT_START_TO_CLOSE_MS).toBe(600_000);
    });

    it('creates a visible activity task row keyed by the scheduled event id', () => {
      const out = complete([schedule('1')]);
      expect(out.activityTasks).toEqual([
        {
          namespace: 'ns',
          runId: 'run-1',
          scheduledEventId: 9,
          workflowId: 'order-1',
          workflowType: 'processOrder',
          activityId: '1',
          activityType: 'charge',
          taskQueue: 'orders',
          input: [toPayload({ amount: 5 })],
          scheduledAt: NOW,
          visibleAt: NOW,
          scheduleToStartMs: null,
          startToCloseMs: DEFAULT_START_TO_CLOSE_MS,
          scheduleToCloseMs: null,
          heartbeatMs: null,
          retryPolicy: DEFAULT_RETRY_POLICY,
        },
      ]);
    });

    it('sets no timer when only start-to-close and heartbeat apply (they start with the attempt)', () => {
      const out = complete([schedule('1', { startToCloseTimeoutMs: 5000, heartbeatTimeoutMs: 1000 })]);
      expect(out.timers).toEqual([]);
    });

    it('defaults start-to-close to schedule-to-close and sets a timer for that deadline', () => {
      const out = complete([schedule('1', { scheduleToCloseTimeoutMs: 30_000 })]);
      const event = out.events[1] as HistoryEventOf<'ActivityTaskScheduled'>;
      expect(event.attributes.startToCloseTimeoutMs).toBe(30_000);
      expect(event.attributes.scheduleToCloseTimeoutMs).toBe(30_000);
      expect(out.activityTasks[0]).toMatchObject({ startToCloseMs: 30_000, scheduleToCloseMs: 30_000 });
      expect(out.timers).toEqual([
        {
          namespace: 'ns',
          runId: 'run-1',
          timerKey: activityTimerKey(9),
          kind: 'activity-timeout',
          dueAt: NOW + 30_000,
          data: { scheduledEventId: 9 },
        },
      ]);
    });

    it('sets the timer at the earlier of schedule-to-start and schedule-to-close', () => {
      const out = complete([schedule('1', { scheduleToStartTimeoutMs: 2000, scheduleToCloseTimeoutMs: 30_000 })]);
      expect(out.timers.map((t) => t.dueAt)).toEqual([NOW + 2000]);
    });

    it('keeps what the command gives: task queue, timeouts, retry policy (with the rest defaulted)', () => {
      const out = complete([
        schedule('1', {
          taskQueue: 'payments',
          startToCloseTimeoutMs: 5000,
          scheduleToStartTimeoutMs: 7000,
          scheduleToCloseTimeoutMs: 60_000,
          heartbeatTimeoutMs: 1000,
          retryPolicy: { maximumAttempts: 3, initialIntervalMs: 200 },
        }),
      ]);
      const event = out.events[1] as HistoryEventOf<'ActivityTaskScheduled'>;
      expect(event.attributes).toMatchObject({
        taskQueue: 'payments',
        startToCloseTimeoutMs: 5000,
        scheduleToStartTimeoutMs: 7000,
        scheduleToCloseTimeoutMs: 60_000,
        heartbeatTimeoutMs: 1000,
        retryPolicy: {
          ...DEFAULT_RETRY_POLICY,
          maximumAttempts: 3,
          initialIntervalMs: 200,
          maximumIntervalMs: 20_000,
        },
      });
      expect(out.activityTasks[0]).toMatchObject({
        taskQueue: 'payments',
        scheduleToStartMs: 7000,
        startToCloseMs: 5000,
        scheduleToCloseMs: 60_000,
        heartbeatMs: 1000,
      });
    });
  });

  it('StartTimer counts from when the completion arrived, not from when its transaction ran', () => {
    // The completion waited 40 ms for a connection and the run's lock: the timer must not be 40 ms late.
    const out = complete([{ type: 'StartTimer', timerId: 't1', durationMs: 1000 }], { receivedAt: NOW - 40 });
    expect(out.events[1]).toMatchObject({ timestamp: NOW, attributes: { fireAt: NOW - 40 + 1000 } });
    expect(out.timers[0]?.dueAt).toBe(NOW - 40 + 1000);
    // A receipt time after the transaction's own (clocks of two servers) never moves the timer later.
    expect(
      complete([{ type: 'StartTimer', timerId: 't1', durationMs: 1000 }], { receivedAt: NOW + 5 }).timers[0]?.dueAt,
    ).toBe(NOW + 1000);
  });

  it('StartTimer counts from when the worker says its code ran, within the task’s time and the arrival', () => {
    const fireAt = (decidedAt: number) =>
      complete([{ type: 'StartTimer', timerId: 't1', durationMs: 1000 }], { receivedAt: NOW - 40, decidedAt }).events[1]
        ?.attributes as { fireAt: number };
    // The report spent 30 ms on its way (a burst queued it): the timer does not wait those out.
    expect(fireAt(NOW - 70).fireAt).toBe(NOW - 70 + 1000);
    // A worker clock behind the engine's: never before the task's time, the workflow's own clock.
    expect(fireAt(TASK_TIME - 500).fireAt).toBe(TASK_TIME + 1000);
    // A worker clock ahead: never after the completion arrived.
    expect(fireAt(NOW + 500).fireAt).toBe(NOW - 40 + 1000);
  });

  it('StartTimer records TimerStarted and a user timer due at now + duration', () => {
    const out = complete([{ type: 'StartTimer', timerId: 't1', durationMs: 90_000 }]);
    expect(out.events[1]).toEqual({
      eventId: 9,
      type: 'TimerStarted',
      timestamp: NOW,
      attributes: { timerId: 't1', durationMs: 90_000, fireAt: NOW + 90_000 },
    });
    expect(out.timers).toEqual([
      {
        namespace: 'ns',
        runId: 'run-1',
        timerKey: userTimerKey('t1'),
        kind: 'user-timer',
        dueAt: NOW + 90_000,
        data: { timerId: 't1', startedEventId: 9 },
      },
    ]);
    expect(out.activityTasks).toEqual([]);
  });

  it('CompleteWorkflow records the result and closes the run as completed', () => {
    const result = toPayload({ ok: true });
    const out = complete([schedule('1'), { type: 'CompleteWorkflow', result }]);
    expect(out.events.map((e) => e.type)).toEqual([
      'WorkflowTaskCompleted',
      'ActivityTaskScheduled',
      'WorkflowExecutionCompleted',
    ]);
    expect(out.events[2]).toMatchObject({ eventId: 10, attributes: { result } });
    expect(out.close).toEqual({ status: 'completed', result });
    expect(out.scheduleWorkflowTask).toBe(false);
  });

  it('FailWorkflow records the failure and closes the run as failed', () => {
    const failure = { message: 'out of stock', type: 'OutOfStock', nonRetryable: true };
    const out = complete([{ type: 'FailWorkflow', failure }]);
    expect(out.events[1]).toMatchObject({ eventId: 9, type: 'WorkflowExecutionFailed', attributes: { failure } });
    expect(out.close).toEqual({ status: 'failed', failure });
  });

  it('rejects a closing command that is not the last one', () => {
    const error = rejection(() =>
      complete([
        { type: 'CompleteWorkflow', result: toPayload(1) },
        { type: 'StartTimer', timerId: '1', durationMs: 1 },
      ]),
    );
    expect(error.code).toBe('InvalidArgument');
    expect(error.message).toBe('command 0 (CompleteWorkflow) closes the workflow but is not the last command');
    expect(() =>
      complete([
        { type: 'FailWorkflow', failure: { message: 'x', type: 'Error' } },
        { type: 'CompleteWorkflow', result: toPayload(1) },
      ]),
    ).toThrow(/command 0 \(FailWorkflow\) closes the workflow/);
  });

  it('rejects an activity id scheduled twice in one task', () => {
    const error = rejection(() => complete([schedule('1'), schedule('2'), schedule('1')]));
    expect(error.code).toBe('InvalidArgument');
    expect(error.message).toBe('activity id "1" is scheduled twice');
  });

  it('rejects a timer id started twice in one task', () => {
    const error = rejection(() =>
      complete([
        { type: 'StartTimer', timerId: 'a', durationMs: 1 },
        { type: 'StartTimer', timerId: 'a', durationMs: 2 },
      ]),
    );
    expect(error.message).toBe('timer id "a" is started twice');
  });

  it('lets an activity and a timer share an id (they are different namespaces)', () => {
    const out = complete([schedule('1'), { type: 'StartTimer', timerId: '1', durationMs: 5 }]);
    expect(out.events).toHaveLength(3);
  });

  describe('events that arrived during the lease', () => {
    it('schedule another workflow task, recorded after the commands', () => {
      const out = complete([schedule('1')], { eventsArrivedDuringLease: true });
      expect(out.events.map((e) => [e.eventId, e.type])).toEqual([
        [8, 'WorkflowTaskCompleted'],
        [9, 'ActivityTaskScheduled'],
        [10, 'WorkflowTaskScheduled'],
      ]);
      expect(out.events[2]).toMatchObject({ attributes: { taskQueue: 'orders' } });
      expect(out.scheduleWorkflowTask).toBe(true);
    });

    it('are not followed by a task when the workflow closes', () => {
      const out = complete([{ type: 'CompleteWorkflow', result: toPayload(null) }], {
        eventsArrivedDuringLease: true,
      });
      expect(out.events.map((e) => e.type)).toEqual(['WorkflowTaskCompleted', 'WorkflowExecutionCompleted']);
      expect(out.scheduleWorkflowTask).toBe(false);
    });
  });

  it('does not mutate its input', () => {
    const commands: Command[] = [schedule('1')];
    const snapshot = structuredClone({ run, commands });
    complete(commands);
    expect({ run, commands }).toEqual(snapshot);
  });
});
