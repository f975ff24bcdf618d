import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { Engine } from '../src/engine/index.js';
import { type ActivityTask, toPayload, type WorkflowTask } from '../src/protocol/index.js';
import { BACKEND, skipBackend } from './support/backend.js';
import { type CallCounter, countTransitions } from './support/counters.js';
import { createTideway, type TestTideway } from './support/env.js';

// Completions of different runs made at once share transactions (src/engine/transition-batches.ts);
// one that cannot go through makes its batch write nothing, and every completion of it then runs
// alone, meeting its own outcome.

const NS = 'default';
const skip = await skipBackend();

describe.skipIf(skip)('completions made at once', () => {
  let t: TestTideway;
  let engine: Engine;
  let transactions: CallCounter;
  beforeAll(async () => {
    t = await createTideway('in-process', { replayCheck: false });
    engine = t.env.engine;
    transactions = countTransitions(engine);
  });
  afterAll(() => t?.teardown());

  /** Starts `n` runs on `queue` and leases their first tasks. */
  async function leasedTasks(queue: string, n: number): Promise<WorkflowTask[]> {
    for (let i = 0; i < n; i++) {
      await engine.startWorkflow(NS, { workflowId: `${queue}-${i}`, workflowType: 'manual', taskQueue: queue });
    }
    const tasks: WorkflowTask[] = [];
    while (tasks.length < n) {
      const polled = await engine.pollWorkflowTask(NS, {
        taskQueue: queue,
        types: ['manual'],
        waitMs: 2000,
        maxTasks: n - tasks.length,
      });
      if (polled.task) tasks.push(polled.task, ...(polled.moreTasks ?? []));
    }
    return tasks;
  }

  const complete = (task: WorkflowTask, result: unknown) =>
    engine.completeWorkflowTask(NS, {
      taskToken: task.taskToken,
      commands: [{ type: 'CompleteWorkflow', result: toPayload(result) }],
    });

  /** A run's task events: their kinds, whether they are numbered 1, 2, 3… in order, and whether the stream ended. */
  async function taskEventsOf(workflowId: string) {
    const page = await engine.listTaskEvents(NS, { workflowId });
    const seqs = page.events.map((e) => e.seq);
    return {
      kinds: page.events.map((e) => `${e.source}:${e.kind}`),
      numbered: seqs.every((seq, i) => seq === i + 1),
      done: page.done,
    };
  }

  test('share transactions, and each run records its own outcome', async () => {
    const [alone] = await leasedTasks('tb-alone', 1);
    await complete(alone!, 'alone');
    const reference = await taskEventsOf(alone!.workflowId);
    expect(reference.kinds.length).toBeGreaterThan(1);
    const tasks = await leasedTasks('tb-many', 30);
    transactions.count = 0;
    await Promise.all(tasks.map((task) => complete(task, task.workflowId)));
    // A lone completion goes at once; those asked for while it is on its way go together.
    expect(transactions.count).toBeLessThan(30);
    expect(transactions.count).toBeGreaterThan(0);
    for (const task of tasks) {
      const outcome = await engine.getWorkflowResult(NS, { workflowId: task.workflowId });
      expect(outcome).toMatchObject({ runId: task.runId, status: 'completed', result: toPayload(task.workflowId) });
      const history = await engine.getWorkflowHistory(NS, { workflowId: task.workflowId });
      const types = history.events.map((e) => e.type);
      expect(types[0]).toBe('WorkflowExecutionStarted');
      expect(types.at(-1)).toBe('WorkflowExecutionCompleted');
      expect(types.filter((type) => type === 'WorkflowTaskCompleted')).toHaveLength(1);
      // The task events of a batch's runs go in one statement: each run's are its own, numbered, closed.
      expect(await taskEventsOf(task.workflowId)).toEqual(reference);
    }
  });

  test('one that fails gets its own error; the others of its batch are recorded, once each', async () => {
    const tasks = await leasedTasks('tb-one-bad', 12);
    // The seventh completes its task first, so its completion in the batch finds no leased task.
    const bad = tasks[6]!;
    await complete(bad, 'first');
    transactions.count = 0;
    const outcomes = await Promise.allSettled(tasks.map((task) => complete(task, `again ${task.workflowId}`)));
    for (const [i, outcome] of outcomes.entries()) {
      if (i === 6) {
        expect(outcome.status).toBe('rejected');
        expect((outcome as PromiseRejectedResult).reason).toMatchObject({ code: 'NotFound' });
      } else expect(outcome.status).toBe('fulfilled');
    }
    // The failed batch wrote nothing; its completions then each went alone.
    expect(transactions.count).toBeGreaterThan(tasks.length);
    expect(await engine.getWorkflowResult(NS, { workflowId: bad.workflowId })).toMatchObject({
      status: 'completed',
      result: toPayload('first'),
    });
    for (const task of tasks.filter((t) => t !== bad)) {
      const history = await engine.getWorkflowHistory(NS, { workflowId: task.workflowId });
      expect(history.events.filter((e) => e.type === 'WorkflowExecutionCompleted')).toHaveLength(1);
      expect(await engine.getWorkflowResult(NS, { workflowId: task.workflowId })).toMatchObject({
        status: 'completed',
        result: toPayload(`again ${task.workflowId}`),
      });
    }
  });
});

describe.skipIf(skip || BACKEND !== 'postgres')('completions made at once on two servers', () => {
  let t: TestTideway;
  let other: Engine;
  const deadlocks: unknown[] = [];
  beforeAll(async () => {
    t = await createTideway('in-process', { replayCheck: false });
    other = await Engine.open({ databaseUrl: t.databaseUrl! });
    for (const engine of [t.env.engine, other]) {
      const transition = engine.ctx.transition.bind(engine.ctx);
      engine.ctx.transition = (fn) =>
        transition(fn).catch((error: unknown) => {
          if ((error as { code?: string }).code === '40P01') deadlocks.push(error);
          throw error;
        });
    }
  });
  afterAll(async () => {
    await other?.close();
    await t?.teardown();
  });

  test('batches of two servers over the same runs lock them in one order: no deadlock, every result once', async () => {
    const engine = t.env.engine;
    const n = 20;
    for (let i = 0; i < n; i++) {
      await engine.startWorkflow(NS, { workflowId: `tb-two-${i}`, workflowType: 'manual', taskQueue: 'tb-two' });
    }
    const tasks: WorkflowTask[] = [];
    while (tasks.length < n) {
      const polled = await engine.pollWorkflowTask(NS, {
        taskQueue: 'tb-two',
        types: ['manual'],
        waitMs: 2000,
        maxTasks: n,
      });
      if (polled.task) tasks.push(polled.task, ...(polled.moreTasks ?? []));
    }
    // Every run schedules two activities.
    for (const task of tasks) {
      await engine.completeWorkflowTask(NS, {
        taskToken: task.taskToken,
        commands: ['a', 'b'].map((activityId) => ({
          type: 'ScheduleActivity' as const,
          activityId,
          activityType: 'work',
          input: [],
          startToCloseTimeoutMs: 60_000,
        })),
      });
    }
    const activities: ActivityTask[] = [];
    while (activities.length < 2 * n) {
      const polled = await engine.pollActivityTask(NS, {
        taskQueue: 'tb-two',
        types: ['work'],
        waitMs: 2000,
        maxTasks: 2 * n - activities.length,
      });
      if (polled.task) activities.push(polled.task, ...(polled.moreTasks ?? []));
    }
    const byRun = (id: string) =>
      [...activities]
        .sort((x, y) => (x.runId < y.runId ? -1 : x.runId > y.runId ? 1 : 0))
        .filter((a) => a.activityId === id);
    // One server gets each run's first activity in one order, the other each run's second in the opposite
    // order: locked in the order they came, their batches would wait for each other.
    const first = byRun('a');
    const second = byRun('b').reverse();
    const completeOn = (server: Engine, task: ActivityTask) =>
      server.completeActivityTask(NS, { taskToken: task.taskToken, result: toPayload(task.activityId) });
    const outcomes = await Promise.allSettled([
      ...first.map((task) => completeOn(engine, task)),
      ...second.map((task) => completeOn(other, task)),
    ]);
    expect(outcomes.filter((o) => o.status === 'rejected')).toEqual([]);
    expect(deadlocks).toEqual([]);
    for (const task of tasks) {
      const history = await engine.getWorkflowHistory(NS, { workflowId: task.workflowId });
      expect(history.events.filter((e) => e.type === 'ActivityTaskCompleted')).toHaveLength(2);
    }
  });
});
