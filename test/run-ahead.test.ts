import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import type { Connection } from '../src/client/index.js';
import { type HistoryEvent, type TidewayApi, toPayload } from '../src/protocol/index.js';
import { Worker, type WorkerOptions } from '../src/worker/index.js';
import { defineSignal, proxyActivities, setHandler, type WorkflowFunction } from '../src/workflow/index.js';
import { addOne, addOneActivities, fiveSteps } from './fixtures/five-steps.js';
import { skipBackend } from './support/backend.js';
import { createTideway, type TestTideway, TRANSPORTS } from './support/env.js';
import { replayAllRuns } from './support/replay-check.js';
import { waitFor } from './support/wait.js';

// A worker that holds a run in its cache delivers an activity's result to
// the workflow itself and reports the result together with the completion of
// the workflow task it creates: one transaction per step. The engine records
// that completion only if the workflow saw the whole history.

const activities = addOneActivities;

const nudge = defineSignal<[string]>('nudge');

/** Two steps; reports the signals it had received after each. */
async function listening(): Promise<{ afterFirst: string[]; afterSecond: string[] }> {
  const received: string[] = [];
  setHandler(nudge, (word) => {
    received.push(word);
  });
  await addOne(0);
  const afterFirst = [...received];
  await addOne(1);
  return { afterFirst, afterSecond: [...received] };
}

const bigActivities = {
  async blob(kib: number): Promise<string> {
    return 'x'.repeat(kib * 1024);
  },
  async measure(text: string): Promise<number> {
    return text.length;
  },
};
const { blob, measure } = proxyActivities<typeof bigActivities>({ startToCloseTimeout: '10s' });

/** Passes one large result on to seven activities at once: the next decision is larger than the result. */
async function fanOut(kib: number): Promise<number[]> {
  const text = await blob(kib);
  return Promise.all(Array.from({ length: 7 }, () => measure(text)));
}

const workflows = { fiveSteps, listening, fanOut };

/** Counts how workflow tasks reached the worker and history fetches; lets a test act just before a report. */
function countingConnection(api: TidewayApi) {
  const counted: TidewayApi = Object.create(api);
  const counts = { polledWorkflowTasks: 0, eagerWorkflowTasks: 0, ranAhead: 0, ranAheadRecorded: 0 };
  let answered = 0;
  const hooks: { beforeResultWithTask?: () => Promise<void>; beforeTaskCompletion?: () => Promise<void> } = {};
  let historyFetches = 0;
  counted.getWorkflowHistory = async (ns, request) => {
    historyFetches++;
    return api.getWorkflowHistory(ns, request);
  };
  counted.completeWorkflowTask = async (ns, request) => {
    const hook = hooks.beforeTaskCompletion;
    hooks.beforeTaskCompletion = undefined;
    await hook?.();
    return api.completeWorkflowTask(ns, request);
  };
  counted.pollWorkflowTask = async (ns, request, signal) => {
    const polled = await api.pollWorkflowTask(ns, request, signal);
    if (polled.task && !polled.task.query) counts.polledWorkflowTasks += 1 + (polled.moreTasks?.length ?? 0);
    return polled;
  };
  counted.completeActivityTask = async (ns, request) => {
    if (request.nextWorkflowTask) {
      counts.ranAhead++;
      const hook = hooks.beforeResultWithTask;
      hooks.beforeResultWithTask = undefined;
      await hook?.();
    }
    let response: Awaited<ReturnType<TidewayApi['completeActivityTask']>>;
    try {
      response = await api.completeActivityTask(ns, request);
    } catch (error) {
      if (request.nextWorkflowTask) answered++;
      throw error;
    }
    if (response?.workflowTask) counts.eagerWorkflowTasks++;
    if (response?.nextWorkflowTask?.applied) counts.ranAheadRecorded++;
    if (request.nextWorkflowTask) answered++;
    return response;
  };
  const connection: Connection = { api: counted, target: 'counting' };
  // A run's result can reach its caller before the worker has the engine's answer to the report that closed it.
  const settled = () => waitFor(async () => answered === counts.ranAhead, { what: 'answers to every report' });
  return { connection, counts, hooks, settled, historyFetches: () => historyFetches };
}

const quiet = { debug() {}, info() {}, warn() {}, error: console.error };

const skip = await skipBackend();

describe.skipIf(skip).each(TRANSPORTS)('workflow tasks run ahead with activity results, over %s', (transport) => {
  let t: TestTideway;
  const startWorker = (options: Omit<WorkerOptions, 'workflows'>) =>
    t.startWorker({ workflows, activities, ...options });
  beforeAll(async () => {
    t = await createTideway(transport);
  });
  afterAll(() => t?.teardown());

  /** Event types, with each WorkflowTaskCompleted's view: what it had seen, relative to its own id. */
  const shape = (history: HistoryEvent[]) =>
    history.map((e) =>
      e.type === 'WorkflowTaskCompleted' ? `${e.type}(seen ${e.attributes.seenUpToEventId - e.eventId})` : e.type,
    );

  test('after the first task, every step is one report: the result with the next task', async () => {
    const { connection, counts, settled } = countingConnection(t.connection.api);
    await startWorker({ connection, taskQueue: `ahead-${transport}` });
    const handle = await t.client.workflow.start(fiveSteps, {
      taskQueue: `ahead-${transport}`,
      id: `ahead-${transport}`,
      args: [10],
    });
    expect(await handle.result()).toBe(15);
    await settled();
    expect(counts).toEqual({ polledWorkflowTasks: 1, eagerWorkflowTasks: 0, ranAhead: 5, ranAheadRecorded: 5 });

    // The history is the one a worker without the cache writes, task by task.
    const plain = countingConnection(t.connection.api);
    await startWorker({ connection: plain.connection, taskQueue: `plain-${transport}`, maxCachedWorkflows: 0 });
    const reference = await t.client.workflow.start(fiveSteps, {
      taskQueue: `plain-${transport}`,
      id: `plain-${transport}`,
      args: [10],
    });
    expect(await reference.result()).toBe(15);
    expect(plain.counts.ranAhead).toBe(0);
    expect(shape(await handle.fetchHistory())).toEqual(shape(await reference.fetchHistory()));

    // Watchers see each step's workflow task start and complete, as with the queue.
    const events = (await t.connection.api.listTaskEvents('default', { workflowId: `ahead-${transport}` })).events;
    const workflowKinds = events.filter((e) => e.source === 'workflow').map((e) => e.kind);
    expect(workflowKinds.filter((k) => k === 'started')).toHaveLength(6);
    expect(workflowKinds.filter((k) => k === 'completed')).toHaveLength(6);
    expect(events.filter((e) => e.source === 'activity' && e.kind === 'completed')).toHaveLength(5);

    const problems = await replayAllRuns(t.client, new Map<string, WorkflowFunction>(Object.entries(workflows)));
    expect(problems).toEqual([]);
  });

  test('a signal that lands while the result is on its way: the task run ahead is dropped, nothing is lost', async () => {
    const { connection, counts, hooks, settled } = countingConnection(t.connection.api);
    await startWorker({ connection, taskQueue: `signal-${transport}` });
    const handle = await t.client.workflow.start(listening, {
      taskQueue: `signal-${transport}`,
      id: `signal-${transport}`,
    });
    // Just before the first result (with the task that ran ahead of it) reaches the engine, a signal lands.
    hooks.beforeResultWithTask = () => handle.signal(nudge, 'hello');
    const result = await handle.result();
    await settled();
    // The workflow ran ahead without the signal; the engine refused that and the regular task delivered both.
    expect(result.afterFirst).toEqual(['hello']);
    expect(result.afterSecond).toEqual(['hello']);
    expect(counts.ranAhead).toBeGreaterThanOrEqual(2);
    expect(counts.ranAheadRecorded).toBe(counts.ranAhead - 1);
    const types = (await handle.fetchHistory()).map((e) => e.type);
    expect(types.indexOf('WorkflowExecutionSignaled')).toBeLessThan(types.indexOf('ActivityTaskCompleted'));
    expect(types).not.toContain('WorkflowTaskFailed');
    const problems = await replayAllRuns(t.client, new Map<string, WorkflowFunction>(Object.entries(workflows)));
    expect(problems).toEqual([]);
  });

  test('a signal that lands while a workflow task runs: the worker keeps the run and needs no history', async () => {
    const { connection, hooks, settled, historyFetches } = countingConnection(t.connection.api);
    await startWorker({ connection, taskQueue: `during-${transport}` });
    const handle = await t.client.workflow.start(listening, {
      taskQueue: `during-${transport}`,
      id: `during-${transport}`,
    });
    // The first task's completion reaches the engine after a signal: the signal's task follows it.
    hooks.beforeTaskCompletion = () => handle.signal(nudge, 'early');
    expect(await handle.result()).toEqual({ afterFirst: ['early'], afterSecond: ['early'] });
    await settled();
    expect(historyFetches()).toBe(0);
    const types = (await handle.fetchHistory()).map((e) => e.type);
    expect(types).not.toContain('WorkflowTaskFailed');
  });
});

describe.skipIf(skip)('a report that running ahead made too large for the server', () => {
  let t: TestTideway;
  let worker: { worker: Worker; running: Promise<void> } | undefined;
  // Bodies up to 4 × 20 KiB + 64 KiB: a 19 KiB result fits, and so do seven commands that pass it on,
  // but not both in one request.
  beforeAll(async () => {
    t = await createTideway('http', { maxPayloadBytes: 20 * 1024 });
  });
  afterAll(async () => {
    await worker?.worker.shutdown();
    await worker?.running;
    await t?.teardown();
  });

  test('is sent again with the result alone, and the workflow carries on as usual', async () => {
    const { connection, counts, settled } = countingConnection(t.connection.api);
    const created = await Worker.create({
      connection,
      taskQueue: 'too-large',
      workflows,
      activities: bigActivities,
      handleSignals: false,
      logger: quiet,
    });
    worker = { worker: created, running: created.run() };
    const handle = await t.client.workflow.start(fanOut, { taskQueue: 'too-large', id: 'too-large', args: [19] });
    expect(await handle.result()).toEqual(Array.from({ length: 7 }, () => 19 * 1024));
    await settled();
    // The 413 was not taken for an oversized result: blob completed once and nothing failed.
    const types = (await handle.fetchHistory()).map((e) => e.type);
    expect(types).not.toContain('ActivityTaskFailed');
    expect(types.filter((type) => type === 'ActivityTaskCompleted')).toHaveLength(8);
    // The report that ran ahead was refused by the server, then sent again without the task.
    expect(counts.ranAhead).toBeGreaterThan(counts.ranAheadRecorded);
  });
});

describe.skipIf(skip)('the engine records a completion sent with a result only if it saw the whole history', () => {
  let t: TestTideway;
  beforeAll(async () => {
    t = await createTideway('in-process', { maxPayloadBytes: 64 * 1024 });
  });
  afterAll(() => t?.teardown());

  /** Starts a run and completes its first task by hand: it schedules `addOne(1)`, which is polled. */
  async function runWithLeasedActivity(id: string) {
    const api = t.connection.api;
    const taskQueue = `manual-${id}`;
    await t.client.workflow.start('fiveSteps', { id, taskQueue, args: [1] });
    const polled = await api.pollWorkflowTask('default', { taskQueue, types: ['fiveSteps'], waitMs: 5000 });
    const first = polled.task!;
    const completed = await api.completeWorkflowTask('default', {
      taskToken: first.taskToken,
      commands: [{ type: 'ScheduleActivity', activityId: '1', activityType: 'addOne', input: [toPayload(1)] }],
      returnNewEvents: true,
    });
    const activity = (await api.pollActivityTask('default', { taskQueue, types: ['addOne'], waitMs: 5000 })).task!;
    return { api, activity, lastEventId: completed.newEvents!.at(-1)!.eventId, newEvents: completed.newEvents! };
  }

  const finish = (result: number) => [{ type: 'CompleteWorkflow' as const, result: toPayload(result) }];

  test('a completion returns the events it appended when asked', async () => {
    const { newEvents } = await runWithLeasedActivity('new-events');
    expect(newEvents.map((e) => e.type)).toEqual(['WorkflowTaskCompleted', 'ActivityTaskScheduled']);
    expect(newEvents[0]!.eventId).toBe(3);
  });

  test('recorded: the result, the task it created, and that task completed at the worker’s time', async () => {
    const { api, activity, lastEventId } = await runWithLeasedActivity('recorded');
    const taskTime = t.clock.now() - 5;
    const response = await api.completeActivityTask('default', {
      taskToken: activity.taskToken,
      result: toPayload(2),
      nextWorkflowTask: { afterEventId: lastEventId, taskTime, commands: finish(2) },
    });
    expect(response.nextWorkflowTask).toEqual({ applied: true });
    const history = await t.client.workflow.getHandle('recorded').fetchHistory();
    expect(history.slice(lastEventId).map((e) => e.type)).toEqual([
      'ActivityTaskCompleted',
      'WorkflowTaskScheduled',
      'WorkflowTaskCompleted',
      'WorkflowExecutionCompleted',
    ]);
    const completed = history[lastEventId + 2]!;
    expect(completed.type === 'WorkflowTaskCompleted' && completed.attributes).toMatchObject({
      seenUpToEventId: lastEventId + 2,
      taskTime,
      attempt: 1,
    });
    expect(await t.client.workflow.getHandle('recorded').result()).toBe(2);
  });

  test('not recorded when the history moved on, a task is pending, or the commands cannot be recorded', async () => {
    const cases: [string, (lastEventId: number) => Record<string, unknown>][] = [
      ['stale', (last) => ({ afterEventId: last - 1, taskTime: t.clock.now(), commands: finish(2) })],
      ['future', (last) => ({ afterEventId: last, taskTime: t.clock.now() + 60_000, commands: finish(2) })],
      ['past', (last) => ({ afterEventId: last, taskTime: t.clock.now() - 60_000, commands: finish(2) })],
      ['invalid', (last) => ({ afterEventId: last, taskTime: t.clock.now(), commands: [...finish(2), ...finish(3)] })],
      [
        'oversized',
        (last) => ({ afterEventId: last, taskTime: t.clock.now(), commands: finish('x'.repeat(70 * 1024) as never) }),
      ],
    ];
    for (const [id, next] of cases) {
      const { api, activity, lastEventId } = await runWithLeasedActivity(id);
      const response = await api.completeActivityTask('default', {
        taskToken: activity.taskToken,
        result: toPayload(2),
        nextWorkflowTask: next(lastEventId) as never,
      });
      expect(response.nextWorkflowTask, id).toEqual({ applied: false });
      // The result alone is recorded, and its workflow task waits in the queue as usual.
      const handle = t.client.workflow.getHandle(id);
      expect((await handle.fetchHistory()).slice(lastEventId).map((e) => e.type)).toEqual([
        'ActivityTaskCompleted',
        'WorkflowTaskScheduled',
      ]);
      expect((await handle.describe()).status).toBe('running');
      await handle.terminate('done');
    }
  });

  test('not recorded when a signal created a pending task first', async () => {
    const { api, activity, lastEventId } = await runWithLeasedActivity('pending');
    const handle = t.client.workflow.getHandle('pending');
    await handle.signal('nudge', 'x');
    const response = await api.completeActivityTask('default', {
      taskToken: activity.taskToken,
      result: toPayload(2),
      nextWorkflowTask: { afterEventId: lastEventId + 2, taskTime: t.clock.now(), commands: finish(2) },
    });
    expect(response.nextWorkflowTask).toEqual({ applied: false });
    expect((await handle.fetchHistory()).slice(lastEventId).map((e) => e.type)).toEqual([
      'WorkflowExecutionSignaled',
      'WorkflowTaskScheduled',
      'ActivityTaskCompleted',
    ]);
    await handle.terminate('done');
  });
});
