import { statSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import {
  type Command,
  type EventAttributes,
  type EventType,
  type Failure,
  type HistoryEvent,
  toPayload,
  toPayloads,
} from '../protocol/index.js';
import {
  ActivityFailure,
  ApplicationFailure,
  DeterminismViolationError,
  executeActivity,
  NonDeterminismError,
  proxyActivities,
  sleep,
  TimeoutFailure,
  uuid4,
  workflowInfo,
} from './index.js';
import { type WorkflowFunction, WorkflowInstance } from './instance.js';

/** Workflow times far from the real clock, so a leak of real time cannot pass for workflow time. */
const START = 1_000_000_000_000;
const T1 = START + 10;
const T2 = START + 5_000;
const T3 = START + 70_000;
const T4 = START + 71_000;

/** A run's history, written by hand the way the engine writes it. */
class History {
  readonly events: HistoryEvent[] = [];

  add<K extends EventType>(type: K, attributes: EventAttributes[K], timestamp = START): number {
    const eventId = this.events.length + 1;
    this.events.push({ eventId, type, timestamp, attributes } as HistoryEvent);
    return eventId;
  }
  get lastEventId(): number {
    return this.events.length;
  }
  started(...args: unknown[]): number {
    return this.add('WorkflowExecutionStarted', {
      workflowType: 'wf',
      taskQueue: 'q',
      input: toPayloads(args),
      workflowTaskTimeoutMs: 10_000,
    });
  }
  taskScheduled(): number {
    return this.add('WorkflowTaskScheduled', { taskQueue: 'q' });
  }
  /** A completed workflow task; by default its worker had seen everything before it. */
  taskCompleted(taskTime: number, seenUpToEventId = this.lastEventId): number {
    return this.add('WorkflowTaskCompleted', { seenUpToEventId, taskTime, identity: 'worker', attempt: 1 }, taskTime);
  }
  /** The events the engine records for a task's commands (see engine/apply-commands.ts). */
  commands(commands: readonly Command[]): number[] {
    return commands.map((c) => {
      if (c.type === 'ScheduleActivity') return this.activityScheduled(c.activityType, c.activityId);
      if (c.type === 'StartTimer') {
        return this.add('TimerStarted', { timerId: c.timerId, durationMs: c.durationMs, fireAt: 0 });
      }
      if (c.type === 'CancelTimer') return this.add('TimerCanceled', { timerId: c.timerId });
      if (c.type === 'RequestCancelActivity')
        return this.add('ActivityTaskCancelRequested', { activityId: c.activityId });
      if (c.type === 'CancelWorkflow') return this.add('WorkflowExecutionCanceled', { reason: c.reason });
      if (c.type === 'StartChildWorkflow') {
        return this.add('StartChildWorkflowExecutionInitiated', {
          childId: c.childId,
          workflowId: c.workflowId,
          workflowType: c.workflowType,
          taskQueue: c.taskQueue ?? 'q',
          input: c.input,
          parentClosePolicy: c.parentClosePolicy,
        });
      }
      if (c.type === 'AcceptUpdate') {
        return this.add('WorkflowExecutionUpdateAccepted', {
          updateId: c.updateId,
          updateName: c.updateName,
          input: c.input,
        });
      }
      if (c.type === 'CompleteUpdate') {
        return this.add('WorkflowExecutionUpdateCompleted', {
          updateId: c.updateId,
          ...(c.result ? { result: c.result } : {}),
          ...(c.failure ? { failure: c.failure } : {}),
        });
      }
      if (c.type === 'RejectUpdate') throw new Error('rejections are not recorded');
      if (c.type === 'RequestCancelChildWorkflow') {
        return this.add('ChildWorkflowCancelRequested', { childId: c.childId, workflowId: c.workflowId });
      }
      if (c.type === 'RecordMarker') {
        return this.add('MarkerRecorded', {
          markerName: c.markerName,
          markerId: c.markerId,
          ...(c.value ? { value: c.value } : {}),
        });
      }
      if (c.type === 'CompleteWorkflow') return this.add('WorkflowExecutionCompleted', { result: c.result });
      if (c.type === 'ContinueAsNew') {
        return this.add('WorkflowExecutionContinuedAsNew', {
          newRunId: 'next',
          workflowType: c.workflowType ?? 'wf',
          taskQueue: c.taskQueue ?? 'q',
          input: c.input,
        });
      }
      return this.add('WorkflowExecutionFailed', { failure: c.failure });
    });
  }
  activityScheduled(activityType: string, activityId: string): number {
    return this.add('ActivityTaskScheduled', {
      activityId,
      activityType,
      taskQueue: 'q',
      input: [],
      retryPolicy: {},
    });
  }
  activityCompleted(scheduledEventId: number, result: unknown): number {
    return this.add('ActivityTaskCompleted', {
      scheduledEventId,
      result: toPayload(result),
      attempt: 1,
      identity: 'worker',
    });
  }
  activityFailed(scheduledEventId: number, failure: Failure): number {
    return this.add('ActivityTaskFailed', {
      scheduledEventId,
      failure,
      attempt: 3,
      identity: 'worker',
      retryState: 'non-retryable-failure',
    });
  }
  timerFired(timerId: string, startedEventId: number): number {
    return this.add('TimerFired', { timerId, startedEventId });
  }
  /** Events after `afterEventId`: what a task hands a worker that has the run cached. */
  since(afterEventId: number): HistoryEvent[] {
    return this.events.slice(afterEventId);
  }
}

function instanceOf(fn: WorkflowFunction, runId = 'run-1'): WorkflowInstance {
  return new WorkflowInstance({ namespace: 'ns', workflowId: 'wf-1', runId, workflowType: 'wf', taskQueue: 'q' }, fn);
}

/** A worker with no cache: replays the whole history, then runs the task at `taskTime`. */
async function replay(fn: WorkflowFunction, history: History, taskTime: number, runId?: string): Promise<Command[]> {
  const instance = instanceOf(fn, runId);
  await instance.consume(history.events);
  return instance.activate(taskTime);
}

async function firstTask(fn: WorkflowFunction, ...args: unknown[]): Promise<Command[]> {
  const history = new History();
  history.started(...args);
  history.taskScheduled();
  return replay(fn, history, T1);
}

function resultOf(commands: Command[]): unknown {
  expect(commands.at(-1)?.type).toBe('CompleteWorkflow');
  return (commands.at(-1) as Command & { type: 'CompleteWorkflow' }).result.data;
}

const activities = {
  async greet(name: string): Promise<string> {
    return `Hello, ${name}`;
  },
  async shout(text: string): Promise<string> {
    return text.toUpperCase();
  },
};
const { greet, shout } = proxyActivities<typeof activities>({ startToCloseTimeout: '10s' });

async function greeting(name: string): Promise<string> {
  const hello = await greet(name);
  return await shout(hello);
}

describe('WorkflowInstance: commands', () => {
  it('emits ScheduleActivity on the first activation, with the workflow’s arguments and options', async () => {
    expect(await firstTask(greeting, 'Ada')).toEqual([
      {
        type: 'ScheduleActivity',
        activityId: '1',
        activityType: 'greet',
        input: [toPayload('Ada')],
        startToCloseTimeoutMs: 10_000,
      },
    ]);
  });

  it('replays a full history and emits the next command', async () => {
    const history = new History();
    history.started('Ada');
    history.taskScheduled();
    history.taskCompleted(T1);
    const scheduled = history.activityScheduled('greet', '1');
    history.activityCompleted(scheduled, 'Hello, Ada');
    history.taskScheduled();
    expect(await replay(greeting, history, T2)).toEqual([
      {
        type: 'ScheduleActivity',
        activityId: '2',
        activityType: 'shout',
        input: [toPayload('Hello, Ada')],
        startToCloseTimeoutMs: 10_000,
      },
    ]);
  });

  it('passes executeActivity options through as milliseconds and a wire retry policy', async () => {
    async function wf() {
      return executeActivity('charge', [1, 'eur'], {
        taskQueue: 'payments',
        scheduleToCloseTimeout: '1h',
        scheduleToStartTimeout: '1m',
        heartbeatTimeout: 5000,
        retry: { initialInterval: '2s', maximumAttempts: 4, nonRetryableErrorTypes: ['CardDeclined'] },
      });
    }
    expect(await firstTask(wf)).toEqual([
      {
        type: 'ScheduleActivity',
        activityId: '1',
        activityType: 'charge',
        taskQueue: 'payments',
        input: toPayloads([1, 'eur']),
        scheduleToCloseTimeoutMs: 3_600_000,
        scheduleToStartTimeoutMs: 60_000,
        heartbeatTimeoutMs: 5000,
        retryPolicy: { initialIntervalMs: 2000, maximumAttempts: 4, nonRetryableErrorTypes: ['CardDeclined'] },
      },
    ]);
  });

  it('emits StartTimer for sleep and continues when the timer fires', async () => {
    async function wf() {
      await sleep('1.5s');
      return 'woke';
    }
    expect(await firstTask(wf)).toEqual([{ type: 'StartTimer', timerId: '1', durationMs: 1500 }]);
    const history = new History();
    history.started();
    history.taskScheduled();
    history.taskCompleted(T1);
    const started = history.add('TimerStarted', { timerId: '1', durationMs: 1500, fireAt: T1 + 1500 });
    history.timerFired('1', started);
    history.taskScheduled();
    expect(await replay(wf, history, T2)).toEqual([{ type: 'CompleteWorkflow', result: toPayload('woke') }]);
  });

  it('a workflow that returns produces CompleteWorkflow with its result', async () => {
    expect(await firstTask(async (a: number, b: number) => ({ sum: a + b }), 2, 3)).toEqual([
      { type: 'CompleteWorkflow', result: toPayload({ sum: 5 }) },
    ]);
    expect(await firstTask(async () => undefined)).toEqual([{ type: 'CompleteWorkflow', result: toPayload(null) }]);
  });

  it('a workflow that throws produces FailWorkflow with the failure', async () => {
    const commands = await firstTask(async () => {
      throw ApplicationFailure.nonRetryable('no such customer', 'CustomerNotFound', { id: 7 });
    });
    expect(commands).toHaveLength(1);
    expect(commands[0]).toMatchObject({
      type: 'FailWorkflow',
      failure: {
        message: 'no such customer',
        type: 'CustomerNotFound',
        nonRetryable: true,
        details: [toPayload({ id: 7 })],
      },
    });
  });

  it('a workflow function that throws synchronously also produces FailWorkflow', async () => {
    const syncThrow = (() => {
      throw new RangeError('bad argument');
    }) as unknown as WorkflowFunction;
    const commands = await firstTask(syncThrow);
    expect(commands).toEqual([
      { type: 'FailWorkflow', failure: expect.objectContaining({ message: 'bad argument', type: 'RangeError' }) },
    ]);
  });
});

describe('WorkflowInstance: activity failures', () => {
  const declined: Failure = {
    message: 'activity charge (id 1) failed after 3 attempt(s): card declined',
    type: 'ActivityFailure',
    info: { activityType: 'charge', activityId: '1', attempt: 3, retryState: 'non-retryable-failure' },
    cause: {
      message: 'card declined',
      type: 'CardDeclined',
      nonRetryable: true,
      info: { kind: 'application' },
      details: [toPayload({ last4: '4242' })],
    },
  };

  function failedHistory(): History {
    const history = new History();
    history.started();
    history.taskScheduled();
    history.taskCompleted(T1);
    const scheduled = history.activityScheduled('charge', '1');
    history.activityFailed(scheduled, declined);
    history.taskScheduled();
    return history;
  }

  it('rejects the awaited call with ActivityFailure caused by the ApplicationFailure', async () => {
    let caught: unknown;
    async function wf() {
      try {
        await executeActivity('charge');
      } catch (error) {
        caught = error;
        return 'handled';
      }
      return 'not reached';
    }
    expect(resultOf(await replay(wf, failedHistory(), T2))).toBe('handled');
    expect(caught).toBeInstanceOf(ActivityFailure);
    const failure = caught as ActivityFailure;
    expect(failure.activityType).toBe('charge');
    expect(failure.attempt).toBe(3);
    expect(failure.retryState).toBe('non-retryable-failure');
    expect(failure.cause).toBeInstanceOf(ApplicationFailure);
    const cause = failure.cause as ApplicationFailure;
    expect(cause.type).toBe('CardDeclined');
    expect(cause.message).toBe('card declined');
    expect(cause.nonRetryable).toBe(true);
    expect(cause.details).toEqual([{ last4: '4242' }]);
  });

  it('fails the workflow with the activity failure when the workflow does not catch it', async () => {
    const commands = await replay(async () => executeActivity('charge'), failedHistory(), T2);
    expect(commands).toEqual([
      {
        type: 'FailWorkflow',
        failure: expect.objectContaining({
          type: 'ActivityFailure',
          cause: expect.objectContaining({ type: 'CardDeclined', nonRetryable: true }),
        }),
      },
    ]);
  });

  it('rejects with ActivityFailure caused by TimeoutFailure when the activity timed out', async () => {
    const history = new History();
    history.started();
    history.taskScheduled();
    history.taskCompleted(T1);
    const scheduled = history.activityScheduled('slow', '1');
    history.add('ActivityTaskTimedOut', {
      scheduledEventId: scheduled,
      attempt: 1,
      timeoutType: 'scheduleToClose',
      failure: {
        message: 'activity slow (id 1) timed out',
        type: 'ActivityFailure',
        info: { activityType: 'slow', activityId: '1', attempt: 1, retryState: 'timeout' },
        cause: { message: 'timed out', type: 'TimeoutFailure', info: { timeoutType: 'scheduleToClose' } },
      },
    });
    history.taskScheduled();
    let caught: unknown;
    async function wf() {
      await executeActivity('slow').catch((error: unknown) => {
        caught = error;
      });
    }
    await replay(wf, history, T2);
    expect(caught).toBeInstanceOf(ActivityFailure);
    expect((caught as ActivityFailure).cause).toBeInstanceOf(TimeoutFailure);
    expect(((caught as ActivityFailure).cause as TimeoutFailure).timeoutType).toBe('scheduleToClose');
  });
});

describe('WorkflowInstance: replay', () => {
  /** Uses every source of non-determinism the runtime makes deterministic. */
  async function order(orderId: string) {
    const startedAt = Date.now();
    const key = uuid4();
    const charged = await executeActivity('charge', [orderId, key]);
    const afterCharge = new Date();
    await sleep('1m');
    const shipped = await executeActivity('ship', [orderId, Math.random()]);
    return {
      startedAt,
      afterCharge: afterCharge.getTime(),
      finishedAt: Date.now(),
      key,
      charged,
      shipped,
      roll: Math.random(),
    };
  }

  it('gives the same commands from the sticky cache as from a fresh replay, task after task', async () => {
    const history = new History();
    history.started('o-1');
    history.taskScheduled();
    const cached = instanceOf(order);
    await cached.consume(history.events);

    // What the server does after each task: record the commands, then deliver the outcome.
    const outcomes: ((scheduled: number[]) => void)[] = [
      ([s]) => history.activityCompleted(s!, 'charged'),
      ([s]) => history.timerFired('1', s!),
      ([s]) => history.activityCompleted(s!, 'shipped'),
    ];
    const times = [T1, T2, T3, T4];
    const perTask: Command[][] = [];
    for (const [i, taskTime] of times.entries()) {
      const fresh = await replay(order, history, taskTime);
      const fromCache = await cached.activate(taskTime);
      expect(fromCache).toEqual(fresh);
      perTask.push(fromCache);
      if (i === times.length - 1) break;
      const seen = history.lastEventId;
      history.taskCompleted(taskTime);
      const scheduled = history.commands(fromCache);
      outcomes[i]!(scheduled);
      history.taskScheduled();
      await cached.consume(history.since(seen));
    }

    expect(perTask.map((commands) => commands.map((c) => c.type))).toEqual([
      ['ScheduleActivity'],
      ['StartTimer'],
      ['ScheduleActivity'],
      ['CompleteWorkflow'],
    ]);
    const result = resultOf(perTask[3]!) as Awaited<ReturnType<typeof order>>;
    expect(result).toMatchObject({
      startedAt: T1,
      afterCharge: T2,
      finishedAt: T4,
      charged: 'charged',
      shipped: 'shipped',
    });
    // The idempotency key the first task sent is the one every replay computes.
    const charge = perTask[0]![0] as Command & { type: 'ScheduleActivity' };
    expect(charge.input[1]!.data).toBe(result.key);
    expect(cached.completed).toBe(true);
  });

  describe('events that arrived during a lease', () => {
    let observedB: number | undefined;
    /** Schedules a and b; when a is done schedules c; when b is done notes the time and schedules d. */
    async function wf() {
      const a = executeActivity('a');
      const b = executeActivity('b').then(async () => {
        observedB = Date.now();
        await executeActivity('d');
      });
      await a;
      await executeActivity('c');
      await b;
      return { observedB, finishedAt: Date.now() };
    }

    /** Task 2 was leased when its last event was `seen` (7); b's completion (8) arrived during the lease. */
    function leasedHistory(seenByTask2 = 7): History {
      const history = new History();
      history.started();
      history.taskScheduled();
      history.taskCompleted(T1);
      const a = history.activityScheduled('a', '1');
      const b = history.activityScheduled('b', '2');
      history.activityCompleted(a, 'A');
      expect(history.taskScheduled()).toBe(7);
      history.activityCompleted(b, 'B');
      history.taskCompleted(T2, seenByTask2);
      history.activityScheduled('c', '3');
      history.taskScheduled();
      return history;
    }

    it('are delivered only in the next activation, at that task’s time', async () => {
      const history = leasedHistory();
      observedB = undefined;
      const instance = instanceOf(wf);
      await instance.consume(history.events);
      // Replaying task 2 delivered a (c was scheduled, as recorded) but not b.
      expect(observedB).toBeUndefined();
      expect(await instance.activate(T3)).toEqual([
        { type: 'ScheduleActivity', activityId: '4', activityType: 'd', input: [] },
      ]);
      expect(observedB).toBe(T3);

      history.taskCompleted(T3);
      const [d] = history.commands([{ type: 'ScheduleActivity', activityId: '4', activityType: 'd', input: [] }]);
      history.activityCompleted(10, 'C');
      history.activityCompleted(d!, 'D');
      history.taskScheduled();
      observedB = undefined;
      expect(resultOf(await replay(wf, history, T4))).toEqual({ observedB: T3, finishedAt: T4 });
    });

    it('would change the recorded commands if delivered with the earlier task', async () => {
      // Control: the same history claiming task 2 had already seen b's completion disagrees with it.
      await expect(replay(wf, leasedHistory(8), T3)).rejects.toThrow(
        /emits ScheduleActivity \(activity d\) that the history does not record/,
      );
    });
  });

  it('rejects a history with a gap', async () => {
    const history = new History();
    history.started();
    history.taskScheduled();
    const instance = instanceOf(async () => {});
    await expect(instance.consume(history.events.slice(1))).rejects.toThrow('history gap: expected event 1, got 2');
  });
});

describe('WorkflowInstance: non-determinism', () => {
  function historyWithActivity(activityType: string, more: (h: History, scheduled: number) => void = () => {}) {
    const history = new History();
    history.started();
    history.taskScheduled();
    history.taskCompleted(T1);
    const scheduled = history.activityScheduled(activityType, '1');
    more(history, scheduled);
    return history;
  }

  it('throws NonDeterminismError when the code schedules a different activity than the history', async () => {
    const history = historyWithActivity('a');
    const instance = instanceOf(async () => executeActivity('b'));
    const replayed = instance.consume(history.events);
    await expect(replayed).rejects.toThrow(NonDeterminismError);
    await expect(replayed).rejects.toThrow(
      'history event 4 scheduled activity a (id 1), but the workflow code now schedules b (id 1) at that point',
    );
  });

  it('throws NonDeterminismError when the code emits a different kind of command', async () => {
    const history = historyWithActivity('a');
    await expect(replay(async () => sleep(10), history, T2)).rejects.toThrow(
      /history event 4 records ScheduleActivity \(activity a\), but the workflow code now emits StartTimer/,
    );
  });

  it('throws NonDeterminismError when the code no longer emits a recorded command', async () => {
    const history = historyWithActivity('a');
    const waitsForever = () => new Promise<never>(() => {});
    await expect(replay(waitsForever, history, T2)).rejects.toThrow(
      /history event 4 records ScheduleActivity \(activity a\), but the workflow code no longer emits it/,
    );
  });

  it('throws NonDeterminismError for an extra command at the end of the history', async () => {
    const history = historyWithActivity('a');
    async function wf() {
      await Promise.all([executeActivity('a'), executeActivity('extra')]);
    }
    await expect(replay(wf, history, T2)).rejects.toThrow(NonDeterminismError);
    await expect(replay(wf, history, T2)).rejects.toThrow(
      /emits ScheduleActivity \(activity extra\) that the history does not record \(before the end of the history\)/,
    );
  });

  it('throws NonDeterminismError for an extra command followed by later events', async () => {
    const history = historyWithActivity('a', (h, scheduled) => {
      h.activityCompleted(scheduled, 'A');
      h.taskScheduled();
    });
    async function wf() {
      await Promise.all([executeActivity('a'), executeActivity('extra')]);
    }
    const instance = instanceOf(wf);
    await expect(instance.consume(history.events)).rejects.toThrow(
      /emits ScheduleActivity \(activity extra\) that the history does not record \(before event 5 \(ActivityTaskCompleted\)\)/,
    );
  });
});

describe('WorkflowInstance: determinism', () => {
  it('makes Date.now() and new Date() return the workflow task time', async () => {
    const realBefore = Date.now();
    const commands = await firstTask(async () => {
      const d = new Date();
      return {
        now: Date.now(),
        date: d.getTime(),
        isDate: d instanceof Date,
        explicit: new Date(86_400_000).toISOString(),
        parsed: Date.parse('2020-01-01T00:00:00Z'),
      };
    });
    expect(resultOf(commands)).toEqual({
      now: T1,
      date: T1,
      isDate: true,
      explicit: '1970-01-02T00:00:00.000Z',
      parsed: 1_577_836_800_000,
    });
    // Outside the workflow the real clock is untouched.
    expect(Date.now()).toBeGreaterThanOrEqual(realBefore);
    expect(realBefore).toBeGreaterThan(T4 + 365 * 86_400_000);
    const later = new Date();
    expect(later.getTime()).toBeGreaterThanOrEqual(realBefore);
  });

  it('keeps Date() callable as a function, inside and outside a workflow', async () => {
    expect(typeof Date()).toBe('string');
    expect(new Date(Date()).getFullYear()).toBe(new Date().getFullYear());
    const commands = await firstTask(async () => Date());
    expect(resultOf(commands)).toBe(new Date(T1).toString());
  });

  it('still recognises Dates that Node creates itself as Dates', () => {
    expect(structuredClone(new Date(5))).toBeInstanceOf(Date);
    expect(statSync('.').mtime).toBeInstanceOf(Date);
    expect(new Date(5)).toBeInstanceOf(Date);
    expect({}).not.toBeInstanceOf(Date);
  });

  it('reports the run in workflowInfo(), with the start time from history', async () => {
    const commands = await firstTask(async () => workflowInfo());
    expect(resultOf(commands)).toEqual({
      namespace: 'ns',
      workflowId: 'wf-1',
      runId: 'run-1',
      workflowType: 'wf',
      taskQueue: 'q',
      startTime: START,
      attempt: 1,
      isReplaying: false,
    });
  });

  it('makes Math.random() and uuid4() the same on every replay of a run, and different across runs', async () => {
    async function wf() {
      return { randoms: [Math.random(), Math.random(), Math.random()], ids: [uuid4(), uuid4()] };
    }
    const history = new History();
    history.started();
    history.taskScheduled();
    const first = resultOf(await replay(wf, history, T1, 'run-x')) as { randoms: number[]; ids: string[] };
    // Real randomness outside a workflow does not disturb a run's sequence.
    Math.random();
    const second = resultOf(await replay(wf, history, T1, 'run-x'));
    const other = resultOf(await replay(wf, history, T1, 'run-y')) as { randoms: number[]; ids: string[] };
    expect(second).toEqual(first);
    expect(other.randoms).not.toEqual(first.randoms);
    expect(other.ids).not.toEqual(first.ids);
    for (const r of first.randoms) {
      expect(r).toBeGreaterThanOrEqual(0);
      expect(r).toBeLessThan(1);
    }
    expect(new Set(first.randoms).size).toBe(3);
    for (const id of first.ids)
      expect(id).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
    expect(first.ids[0]).not.toBe(first.ids[1]);
  });

  it('throws DeterminismViolationError for setTimeout in a workflow, pointing at sleep', async () => {
    const attempt = firstTask(async () => {
      await new Promise((resolve) => setTimeout(resolve, 1));
    });
    await expect(attempt).rejects.toThrow(DeterminismViolationError);
    await expect(attempt).rejects.toThrow(/setTimeout\(\) cannot be used in workflow code: use `await sleep\(ms\)`/);
  });

  it('throws DeterminismViolationError for setInterval and setImmediate in a workflow', async () => {
    await expect(firstTask(async () => setInterval(() => {}, 1000))).rejects.toThrow(/setInterval\(\).*sleep/);
    await expect(firstTask(async () => setImmediate(() => {}))).rejects.toThrow(/setImmediate\(\).*sleep/);
  });

  it('throws DeterminismViolationError for fetch in a workflow, pointing at activities', async () => {
    const attempt = firstTask(async () => fetch('data:text/plain,hello'));
    await expect(attempt).rejects.toThrow(DeterminismViolationError);
    await expect(attempt).rejects.toThrow(/fetch\(\) cannot be used in workflow code: do I\/O in an activity/);
  });

  it('fails the task even when the workflow catches the violation', async () => {
    let swallowed = false;
    const attempt = firstTask(async () => {
      try {
        setTimeout(() => {}, 1);
      } catch {
        swallowed = true;
      }
      return 'pretending all is well';
    });
    await expect(attempt).rejects.toThrow(DeterminismViolationError);
    expect(swallowed).toBe(true);
  });

  it('leaves timers and fetch working outside a workflow', async () => {
    await firstTask(async () => 'a workflow ran in this process');
    const waited = await new Promise<string>((resolve) => setTimeout(() => resolve('timer fired'), 1));
    expect(waited).toBe('timer fired');
    await new Promise<void>((resolve) => setImmediate(resolve));
    const handle = setInterval(() => {}, 1000);
    clearInterval(handle);
    const response = await fetch('data:text/plain,hello');
    expect(await response.text()).toBe('hello');
  });

  it('refuses workflow APIs outside workflow code', () => {
    expect(() => sleep(10)).toThrow('sleep can only be called from workflow code');
    expect(() => executeActivity('a')).toThrow('executeActivity can only be called from workflow code');
    expect(() => uuid4()).toThrow('uuid4 can only be called from workflow code');
  });
});
