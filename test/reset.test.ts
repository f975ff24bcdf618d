import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { ApplicationFailure, type TidewayApiError, type WorkflowHandle } from '../src/client/index.js';
import type { HistoryEvent } from '../src/protocol/index.js';
import { condition, defineSignal, executeChild, proxyActivities, setHandler, sleep } from '../src/workflow/index.js';
import { skipBackend } from './support/backend.js';
import { createTideway, type TestTideway, TRANSPORTS } from './support/env.js';
import { waitFor } from './support/wait.js';

/**
 * Reset: a run re-driven from a prefix of its history by fixed code, without
 * re-running the activities it completed. Activities count their calls per
 * key, so tests can tell exactly what ran again.
 */
const calls = new Map<string, number>();
const count = (name: string, key: string) => {
  const id = `${name}:${key}`;
  calls.set(id, (calls.get(id) ?? 0) + 1);
};
const callsOf = (name: string, key: string) => calls.get(`${name}:${key}`) ?? 0;

const healthy = {
  async fetchOrder(key: string): Promise<string> {
    count('fetchOrder', key);
    return `order-${key}`;
  },
  async chargeCard(key: string, order: string): Promise<string> {
    count('chargeCard', key);
    return `charged ${order}`;
  },
  async pick(key: string, value: number): Promise<number> {
    count('pick', key);
    return value;
  },
};
/** The same activities with a bug in chargeCard: it always throws. */
const broken = {
  ...healthy,
  async chargeCard(key: string, _order: string): Promise<string> {
    count('chargeCardBroken', key);
    throw new Error('card service rejected the request (bug: wrong API key)');
  },
};
const nonRetryablyBroken = {
  ...healthy,
  async chargeCard(key: string, _order: string): Promise<string> {
    count('chargeCardBroken', key);
    throw ApplicationFailure.nonRetryable('card declined by a bug', 'CardBug');
  },
};

const retrying = proxyActivities<typeof healthy>({
  startToCloseTimeout: '10s',
  retry: { initialInterval: '1s', maximumAttempts: 0 },
});

/** Fetches an order, then charges it: the second activity is the one that breaks. */
async function checkout(key: string): Promise<string> {
  const order = await retrying.fetchOrder(key);
  return await retrying.chargeCard(key, order);
}

/** The same, but a broken charge fails the run. */
async function strictCheckout(key: string): Promise<string> {
  const order = await retrying.fetchOrder(key);
  return await retrying.chargeCard(key, order);
}

/** Both activities at once: one finishes, the other is still pending at the reset point. */
async function parallelCheckout(key: string): Promise<string[]> {
  return await Promise.all([retrying.fetchOrder(key), retrying.chargeCard(key, 'parallel')]);
}

/** A one-hour timer started before an activity finished: pending across the reset. */
async function timedCheckout(key: string): Promise<string> {
  const timer = sleep('1h');
  const order = await retrying.fetchOrder(key);
  await timer;
  return `${order} after the hour`;
}

/** Draws a random number before its first activity; replay after a reset must draw the same one. */
async function lottery(key: string): Promise<number> {
  const drawn = Math.random();
  const picked = await retrying.pick(key, drawn);
  await retrying.chargeCard(key, String(picked));
  return drawn;
}

const add = defineSignal<[value: string]>('add');
/** Collects three signals. */
async function collector(): Promise<string[]> {
  const values: string[] = [];
  setHandler(add, (value) => {
    values.push(value);
  });
  await condition(() => values.length >= 3);
  return values;
}

const release = defineSignal('release');
async function releasable(): Promise<string> {
  let released = false;
  setHandler(release, () => {
    released = true;
  });
  await condition(() => released);
  return 'child released';
}
/** Starts a child that waits for a signal, then charges. */
async function parentWithChild(key: string): Promise<string> {
  const child = await executeChild(releasable, { workflowId: `${key}-child` });
  return await retrying.chargeCard(key, child);
}

const workflows = {
  checkout,
  strictCheckout,
  parallelCheckout,
  timedCheckout,
  lottery,
  collector,
  releasable,
  parentWithChild,
};

function findEvent<T extends HistoryEvent['type']>(
  history: readonly HistoryEvent[],
  type: T,
  where: (e: Extract<HistoryEvent, { type: T }>) => boolean = () => true,
): Extract<HistoryEvent, { type: T }> | undefined {
  return history.find((e): e is Extract<HistoryEvent, { type: T }> => e.type === type && where(e as never));
}

describe.each(TRANSPORTS)('reset over %s', (transport) => {
  let t: TestTideway;
  let skip = false;
  let queueSeq = 0;
  beforeAll(async () => {
    skip = await skipBackend();
    if (skip) return;
    t = await createTideway(transport);
  });
  afterAll(async () => {
    await t?.teardown();
  });

  /** A queue served by a worker with broken activities; returns a function that swaps in healthy ones. */
  async function brokenQueue(activities: object = broken) {
    const taskQueue = `reset-${transport}-${++queueSeq}`;
    const worker = await t.startWorker({ taskQueue, workflows, activities });
    return {
      taskQueue,
      async deployFix() {
        await worker.shutdown();
        await t.startWorker({ taskQueue, workflows, activities: healthy });
      },
    };
  }

  /** Waits until the workflow has handled everything in its history (no workflow task pending). */
  async function settled(handle: WorkflowHandle, what: string): Promise<void> {
    await waitFor(
      async () => {
        const d = await handle.describe();
        return d.status !== 'running' || !d.pendingWorkflowTask;
      },
      { what },
    );
  }

  async function waitForActivityFailure(handle: WorkflowHandle): Promise<void> {
    await waitFor(async () => (await handle.describe()).pendingActivities.some((a) => a.lastFailure), {
      what: 'an activity attempt to fail',
    });
  }

  test('a run stuck on a broken activity: deploy the fix, reset to the last workflow task; the first activity ran once', async (ctx) => {
    if (skip) ctx.skip();
    const key = `${transport}-stuck`;
    const queue = await brokenQueue();
    const handle = await t.client.workflow.start(checkout, { id: key, taskQueue: queue.taskQueue, args: [key] });
    await waitForActivityFailure(handle);
    await queue.deployFix();

    const fresh = await handle.reset({ toLastWorkflowTask: true }, 'fixed the card service API key');
    expect(fresh.runId).not.toBe(handle.runId);
    expect(await fresh.result()).toBe(`charged order-${key}`);
    // The old handle (bound to the old run) follows the link to the new run.
    expect(await handle.result()).toBe(`charged order-${key}`);
    expect(callsOf('fetchOrder', key)).toBe(1);
    expect(callsOf('chargeCard', key)).toBe(1);

    const old = await handle.describe();
    expect(old).toMatchObject({ status: 'terminated', nextRunId: fresh.runId });
    const oldHistory = await handle.fetchHistory();
    const terminated = findEvent(oldHistory, 'WorkflowExecutionTerminated');
    expect(terminated?.attributes.reason).toMatch(
      new RegExp(`^reset: continued in run ${fresh.runId} .*fixed the card service API key`),
    );

    // The new run's history: the old prefix verbatim, then the reset marker naming the base run and event.
    const resetPoint = oldHistory.filter((e) => e.type === 'WorkflowTaskCompleted').pop()!;
    const history = await fresh.fetchHistory();
    expect(history.slice(0, resetPoint.eventId - 1).map((e) => [e.eventId, e.type, e.timestamp])).toEqual(
      oldHistory.slice(0, resetPoint.eventId - 1).map((e) => [e.eventId, e.type, e.timestamp]),
    );
    const marker = history[resetPoint.eventId - 1];
    expect(marker).toMatchObject({
      type: 'WorkflowTaskFailed',
      attributes: {
        cause: 'reset',
        failure: {
          type: 'ResetWorkflow',
          message: `reset from run ${handle.runId} at event ${resetPoint.eventId}: fixed the card service API key`,
          info: { baseRunId: handle.runId, resetEventId: resetPoint.eventId, terminatedRunId: handle.runId },
        },
      },
    });
    const started = findEvent(history, 'WorkflowExecutionStarted');
    expect(started?.attributes.originalExecutionRunId).toBe(handle.runId);
    // The latest run of the id is the new one.
    expect((await t.client.workflow.getHandle(key).describe()).runId).toBe(fresh.runId);
  });

  test('a failed run: reset to the workflow task that scheduled the failed activity re-runs only that activity', async (ctx) => {
    if (skip) ctx.skip();
    const key = `${transport}-failed`;
    const queue = await brokenQueue(nonRetryablyBroken);
    const handle = await t.client.workflow.start(strictCheckout, { id: key, taskQueue: queue.taskQueue, args: [key] });
    await expect(handle.result()).rejects.toThrow(/card declined by a bug/);
    await queue.deployFix();

    const history = await handle.fetchHistory();
    const chargeScheduled = findEvent(
      history,
      'ActivityTaskScheduled',
      (e) => e.attributes.activityType === 'chargeCard',
    )!;
    const taskThatScheduled = history
      .filter((e) => e.type === 'WorkflowTaskCompleted' && e.eventId < chargeScheduled.eventId)
      .pop()!;
    const response = await t.client.connection.api.resetWorkflow(t.client.namespace, {
      workflowId: key,
      runId: handle.runId!,
      toEventId: taskThatScheduled.eventId,
      reason: 'card bug fixed',
    });
    expect(response).toMatchObject({ baseRunId: handle.runId, resetEventId: taskThatScheduled.eventId, started: true });
    expect(response.terminatedRunId).toBeUndefined();
    // The failed run now points at the run that carries on: its handle's result() follows.
    expect(await handle.result()).toBe(`charged order-${key}`);
    expect((await handle.describe()).status).toBe('failed');
    expect(callsOf('fetchOrder', key)).toBe(1);
    expect(callsOf('chargeCard', key)).toBe(1);
  });

  test('an activity pending at the reset point is dispatched again; the one that completed is not', async (ctx) => {
    if (skip) ctx.skip();
    const key = `${transport}-parallel`;
    const queue = await brokenQueue();
    const handle = await t.client.workflow.start(parallelCheckout, {
      id: key,
      taskQueue: queue.taskQueue,
      args: [key],
    });
    await waitFor(async () => (await handle.fetchHistory()).some((e) => e.type === 'ActivityTaskCompleted'), {
      what: 'fetchOrder to complete',
    });
    await settled(handle, 'the task that saw fetchOrder complete');
    await waitForActivityFailure(handle);
    await queue.deployFix();

    const fresh = await handle.reset({ toLastWorkflowTask: true });
    expect(await fresh.result()).toEqual([`order-${key}`, 'charged parallel']);
    expect(callsOf('fetchOrder', key)).toBe(1);
    const history = await fresh.fetchHistory();
    // chargeCard was scheduled once, in the copied prefix; its result answers that original event.
    const scheduled = history.filter((e) => e.type === 'ActivityTaskScheduled');
    expect(scheduled).toHaveLength(2);
    const charge = scheduled.find(
      (e) => e.type === 'ActivityTaskScheduled' && e.attributes.activityType === 'chargeCard',
    )!;
    expect(
      findEvent(history, 'ActivityTaskCompleted', (e) => e.attributes.scheduledEventId === charge.eventId),
    ).toBeDefined();
  });

  test('a timer pending at the reset point keeps its original due time', async (ctx) => {
    if (skip) ctx.skip();
    const key = `${transport}-timer`;
    const taskQueue = `reset-${transport}-timer`;
    await t.startWorker({ taskQueue, workflows, activities: healthy });
    const handle = await t.client.workflow.start(timedCheckout, { id: key, taskQueue, args: [key] });
    await waitFor(async () => (await handle.fetchHistory()).some((e) => e.type === 'ActivityTaskCompleted'), {
      what: 'fetchOrder to complete',
    });
    await settled(handle, 'the task after fetchOrder');
    const timer = findEvent(await handle.fetchHistory(), 'TimerStarted')!;
    t.skipTime('40m');
    const fresh = await handle.reset({ toLastWorkflowTask: true }, 'timer check');
    // 40 + 25 minutes: past the original due time, though not an hour after the reset.
    t.skipTime('25m');
    expect(await fresh.result()).toBe(`order-${key} after the hour`);
    const history = await fresh.fetchHistory();
    expect(history.filter((e) => e.type === 'TimerStarted')).toHaveLength(1);
    const fired = findEvent(history, 'TimerFired')!;
    expect(fired.timestamp).toBeGreaterThanOrEqual(timer.attributes.fireAt);
    expect(callsOf('fetchOrder', key)).toBe(1);
  });

  test('Math.random() replays the same numbers in the reset run', async (ctx) => {
    if (skip) ctx.skip();
    const key = `${transport}-lottery`;
    const queue = await brokenQueue();
    const handle = await t.client.workflow.start(lottery, { id: key, taskQueue: queue.taskQueue, args: [key] });
    await waitForActivityFailure(handle);
    const picked = findEvent(await handle.fetchHistory(), 'ActivityTaskScheduled')!;
    await queue.deployFix();
    const fresh = await handle.reset({ toLastWorkflowTask: true });
    expect(await fresh.result()).toBe(picked.attributes.input[1]?.data);
    expect(callsOf('pick', key)).toBe(1);
  });

  test('signals received after the reset point are re-applied, in order (unless told not to)', async (ctx) => {
    if (skip) ctx.skip();
    const taskQueue = `reset-${transport}-signals`;
    await t.startWorker({ taskQueue, workflows, activities: healthy });
    const id = `${transport}-signals`;
    const handle = await t.client.workflow.start(collector, { id, taskQueue });
    await handle.signal(add, 'a');
    await handle.signal(add, 'b');
    await settled(handle, 'both signals to be handled');
    const fresh = await handle.reset({ toFirstWorkflowTask: true }, 'replay the signals');
    const history = await fresh.fetchHistory();
    expect(
      history.filter((e) => e.type === 'WorkflowExecutionSignaled').map((e) => e.attributes.input[0]?.data),
    ).toEqual(['a', 'b']);
    await fresh.signal(add, 'c');
    expect(await fresh.result()).toEqual(['a', 'b', 'c']);

    const id2 = `${transport}-signals-dropped`;
    const second = await t.client.workflow.start(collector, { id: id2, taskQueue });
    // After the first task: a signal that arrives while the task at the reset point runs is part of the prefix.
    await settled(second, 'the first workflow task');
    await second.signal(add, 'x');
    await settled(second, 'the signal to be handled');
    const withoutSignals = await second.reset({ toFirstWorkflowTask: true }, 'start over', { reapplySignals: false });
    for (const value of ['p', 'q', 'r']) await withoutSignals.signal(add, value);
    expect(await withoutSignals.result()).toEqual(['p', 'q', 'r']);
  });

  test('a running child started before the reset point is handed over to the new run', async (ctx) => {
    if (skip) ctx.skip();
    const key = `${transport}-parent`;
    const queue = await brokenQueue();
    const handle = await t.client.workflow.start(parentWithChild, { id: key, taskQueue: queue.taskQueue, args: [key] });
    const child = t.client.workflow.getHandle(`${key}-child`);
    await waitFor(async () => (await handle.fetchHistory()).some((e) => e.type === 'ChildWorkflowExecutionStarted'), {
      what: 'the child to start',
    });
    await settled(handle, 'the task that saw the child start');
    const childRunId = (await child.describe()).runId;
    await queue.deployFix();
    const fresh = await handle.reset({ toLastWorkflowTask: true }, 'child hand-over');
    // The child was neither terminated nor started again.
    expect(await child.describe()).toMatchObject({ runId: childRunId, status: 'running' });
    await child.signal(release);
    expect(await fresh.result()).toBe('charged child released');
    expect((await fresh.fetchHistory()).filter((e) => e.type === 'StartChildWorkflowExecutionInitiated')).toHaveLength(
      1,
    );
  });

  test('a running child that is reset keeps its parent: the parent hears from the new run', async (ctx) => {
    if (skip) ctx.skip();
    const key = `${transport}-reset-child`;
    const taskQueue = `reset-${transport}-child`;
    await t.startWorker({ taskQueue, workflows, activities: healthy });
    const parent = await t.client.workflow.start(parentWithChild, { id: key, taskQueue, args: [key] });
    const child = t.client.workflow.getHandle(`${key}-child`);
    await waitFor(async () => (await child.describe().catch(() => undefined))?.status === 'running', {
      what: 'the child to start',
    });
    await settled(child, 'the child’s first task');
    const oldChild = await child.describe();
    const freshChild = await child.reset({ toFirstWorkflowTask: true }, 'child redo');
    await freshChild.signal(release);
    expect(await parent.result()).toBe('charged child released');
    const outcome = (await parent.fetchHistory()).find((e) => e.type === 'ChildWorkflowExecutionCompleted');
    expect(outcome).toMatchObject({ attributes: { runId: freshChild.runId } });
    expect(await t.client.workflow.getHandle(child.workflowId, oldChild.runId).describe()).toMatchObject({
      status: 'terminated',
      nextRunId: freshChild.runId,
    });
  });

  test('resetting an older run replaces the run that is running now; a reset run can be reset again', async (ctx) => {
    if (skip) ctx.skip();
    const taskQueue = `reset-${transport}-older`;
    await t.startWorker({ taskQueue, workflows, activities: healthy });
    const id = `${transport}-older`;
    const first = await t.client.workflow.start(collector, { id, taskQueue });
    await settled(first, 'the first workflow task');
    for (const value of ['a', 'b', 'c']) await first.signal(add, value);
    expect(await first.result()).toEqual(['a', 'b', 'c']);
    const second = await t.client.workflow.start(collector, { id, taskQueue });

    const response = await t.client.connection.api.resetWorkflow(t.client.namespace, {
      workflowId: id,
      runId: first.runId!,
      toFirstWorkflowTask: true,
      reason: 'redo the first run',
    });
    expect(response).toMatchObject({ baseRunId: first.runId, terminatedRunId: second.runId, reappliedSignals: 3 });
    const third = t.client.workflow.getHandle(id, response.runId);
    expect(await third.result()).toEqual(['a', 'b', 'c']);
    expect(await second.describe()).toMatchObject({ status: 'terminated', nextRunId: response.runId });
    expect((await second.fetchHistory()).at(-1)).toMatchObject({
      type: 'WorkflowExecutionTerminated',
      attributes: { reason: expect.stringMatching(/^reset: continued in run .*redo the first run/) },
    });
    // The completed run keeps its own result, and now names the run that carries on.
    expect(await first.describe()).toMatchObject({ status: 'completed', nextRunId: response.runId });

    const fourth = await third.reset({ toFirstWorkflowTask: true }, 'once more');
    expect(await fourth.result()).toEqual(['a', 'b', 'c']);
    const started = (await fourth.fetchHistory())[0];
    expect(started).toMatchObject({
      type: 'WorkflowExecutionStarted',
      attributes: { originalExecutionRunId: first.runId },
    });
  });

  test('a retried reset with the same request id returns the first reset’s run', async (ctx) => {
    if (skip) ctx.skip();
    const taskQueue = `reset-${transport}-idempotent`;
    await t.startWorker({ taskQueue, workflows, activities: healthy });
    const id = `${transport}-idempotent`;
    const handle = await t.client.workflow.start(collector, { id, taskQueue });
    await handle.signal(add, 'once');
    await settled(handle, 'the signal to be handled');
    const request = { workflowId: id, toLastWorkflowTask: true, requestId: `req-${transport}` };
    const first = await t.client.connection.api.resetWorkflow(t.client.namespace, request);
    const again = await t.client.connection.api.resetWorkflow(t.client.namespace, request);
    expect(again).toEqual({ ...first, started: false });
    const runs = [];
    for await (const run of t.client.workflow.list({ workflowId: id })) runs.push(run);
    expect(runs).toHaveLength(2);
    await t.client.workflow.getHandle(id).terminate('done with it');
  });

  describe('bad input changes nothing', () => {
    async function expectApiError(promise: Promise<unknown>, code: string, message: RegExp): Promise<void> {
      const error = (await promise.then(
        () => undefined,
        (e: unknown) => e,
      )) as TidewayApiError | undefined;
      expect(error, 'expected the call to fail').toBeDefined();
      expect(error?.code).toBe(code);
      expect(error?.message).toMatch(message);
    }

    test('unknown workflow or run, event id out of range or not a boundary, no completed task, two reset points', async (ctx) => {
      if (skip) ctx.skip();
      const api = t.client.connection.api;
      const ns = t.client.namespace;
      const taskQueue = `reset-${transport}-bad`;
      await t.startWorker({ taskQueue, workflows, activities: healthy });
      const id = `${transport}-bad`;
      const handle = await t.client.workflow.start(collector, { id, taskQueue });
      await settled(handle, 'the first workflow task');
      await handle.signal(add, 'one');
      await settled(handle, 'two workflow tasks');
      const before = await handle.fetchHistory();
      const boundaries = before.filter((e) => e.type === 'WorkflowTaskCompleted').map((e) => e.eventId);

      await expectApiError(
        api.resetWorkflow(ns, { workflowId: 'no-such-workflow', toLastWorkflowTask: true }),
        'NotFound',
        /workflow "no-such-workflow" not found/,
      );
      await expectApiError(
        api.resetWorkflow(ns, { workflowId: id, runId: 'no-such-run', toLastWorkflowTask: true }),
        'NotFound',
        /has no run "no-such-run"/,
      );
      await expectApiError(
        api.resetWorkflow(ns, { workflowId: id, toEventId: 999 }),
        'InvalidArgument',
        new RegExp(`event 999 is out of range: run \\S+ has events 1 to ${before.length}.*${boundaries.join(', ')}`),
      );
      const signaled = before.find((e) => e.type === 'WorkflowExecutionSignaled')!;
      await expectApiError(
        api.resetWorkflow(ns, { workflowId: id, toEventId: signaled.eventId }),
        'InvalidArgument',
        new RegExp(
          `event ${signaled.eventId} \\(WorkflowExecutionSignaled\\) is not a workflow task boundary.*nearest are ${boundaries[0]} and ${boundaries[1]}`,
        ),
      );
      await expectApiError(
        api.resetWorkflow(ns, { workflowId: id, toEventId: boundaries[0]!, toLastWorkflowTask: true }),
        'InvalidArgument',
        /exactly one reset point/,
      );
      await expectApiError(api.resetWorkflow(ns, { workflowId: id }), 'InvalidArgument', /exactly one reset point/);

      // A run on a queue no worker polls has no completed workflow task.
      const idle = await t.client.workflow.start('collector', { id: `${transport}-idle`, taskQueue: 'nobody-polls' });
      await expectApiError(
        idle.reset({ toLastWorkflowTask: true }),
        'FailedPrecondition',
        /no completed workflow task/,
      );

      // Nothing changed: same runs, same histories, both still running.
      expect(await handle.fetchHistory()).toEqual(before);
      expect((await handle.describe()).status).toBe('running');
      expect((await idle.describe()).status).toBe('running');
      const runs = [];
      for await (const run of t.client.workflow.list({ workflowId: id })) runs.push(run);
      expect(runs).toHaveLength(1);
      await handle.terminate('cleanup');
      await idle.terminate('cleanup');
    });
  });
});
