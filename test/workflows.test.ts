import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { ApplicationFailure, activityInfo, heartbeat } from '../src/activity/index.js';
import { WorkflowFailedError } from '../src/client/index.js';
import { ActivityFailure, executeActivity, proxyActivities, sleep, workflowInfo } from '../src/workflow/index.js';
import { skipBackend } from './support/backend.js';
import { createTideway, type TestTideway, TRANSPORTS } from './support/env.js';
import { waitFor } from './support/wait.js';

// ---- activities ----
const attempts = new Map<string, number>();
const activities = {
  async greet(name: string): Promise<string> {
    return `Hello, ${name}`;
  },
  async flaky(key: string, failTimes: number): Promise<string> {
    const attempt = activityInfo().attempt;
    attempts.set(key, attempt);
    if (attempt <= failTimes) throw new Error(`flaky failure ${attempt}`);
    return `ok on attempt ${attempt}`;
  },
  async rejectPayment(amount: number): Promise<never> {
    throw new ApplicationFailure(`card declined for ${amount}`, {
      type: 'CardDeclined',
      nonRetryable: true,
      details: [{ amount, reason: 'insufficient funds' }],
      cause: new Error('bank said no'),
    });
  },
  async hang(): Promise<string> {
    await new Promise((resolve) => setTimeout(resolve, 60_000).unref());
    return 'never';
  },
  async slowWithHeartbeat(key: string): Promise<unknown> {
    const info = activityInfo();
    attempts.set(key, info.attempt);
    if (info.attempt === 1) {
      await heartbeat({ step: 7 });
      // Stops heartbeating: the heartbeat timeout must fire and retry it.
      await new Promise((resolve) => setTimeout(resolve, 60_000).unref());
    }
    return { resumedFrom: info.heartbeatDetails, attempt: info.attempt };
  },
};

// ---- workflows ----
const { greet, flaky, rejectPayment } = proxyActivities<typeof activities>({
  startToCloseTimeout: '10s',
  retry: { initialInterval: '10ms', maximumInterval: '50ms' },
});

async function sayHello(name: string): Promise<string> {
  await sleep('50ms');
  return await greet(name);
}
async function retrying(key: string, failTimes: number): Promise<string> {
  return await flaky(key, failTimes);
}
async function limitedRetries(key: string): Promise<string> {
  return await executeActivity(activities.flaky, [key, 10], {
    startToCloseTimeout: '10s',
    retry: { initialInterval: '10ms', maximumAttempts: 3 },
  });
}
async function payment(amount: number): Promise<string> {
  return await rejectPayment(amount);
}
async function catchesFailure(): Promise<unknown> {
  try {
    await rejectPayment(5);
    return 'unreachable';
  } catch (error) {
    const failure = error as ActivityFailure;
    const cause = failure.cause as ApplicationFailure;
    return {
      outer: failure.name,
      innerType: cause.type,
      details: cause.details,
      isActivityFailure: error instanceof ActivityFailure,
    };
  }
}
async function timesOut(): Promise<string> {
  return await executeActivity(activities.hang, [], {
    startToCloseTimeout: '5s',
    retry: { maximumAttempts: 2, initialInterval: '10ms' },
  });
}
async function heartbeating(key: string): Promise<unknown> {
  return await executeActivity(activities.slowWithHeartbeat, [key], {
    startToCloseTimeout: '10m',
    heartbeatTimeout: '2s',
    retry: { initialInterval: '10ms' },
  });
}
async function callsUnknownActivity(): Promise<string> {
  return await executeActivity('notRegisteredAnywhere', [], { startToCloseTimeout: '1s' });
}
async function info(): Promise<unknown> {
  const i = workflowInfo();
  return { workflowId: i.workflowId, workflowType: i.workflowType, taskQueue: i.taskQueue, namespace: i.namespace };
}
async function parallel(names: string[]): Promise<string[]> {
  return await Promise.all(names.map((n) => greet(n)));
}

const workflows = {
  sayHello,
  retrying,
  limitedRetries,
  payment,
  catchesFailure,
  timesOut,
  heartbeating,
  callsUnknownActivity,
  info,
  parallel,
};

describe.each(TRANSPORTS)('workflows over %s', (transport) => {
  let t: TestTideway;
  let skip = false;
  const taskQueue = `q-${transport}`;

  beforeAll(async () => {
    skip = await skipBackend();
    if (skip) return;
    t = await createTideway(transport);
    await t.startWorker({ taskQueue, workflows, activities });
  });
  afterAll(async () => {
    await t?.teardown();
  });

  test('runs a workflow with a durable sleep and an activity, by function and by name', async (ctx) => {
    if (skip) ctx.skip();
    const handle = await t.client.workflow.start(sayHello, { id: 'hello-1', taskQueue, args: ['World'] });
    expect(await handle.result()).toBe('Hello, World');
    expect(await t.client.workflow.execute('sayHello', { id: 'hello-2', taskQueue, args: ['you'] })).toBe('Hello, you');

    const description = await t.client.workflow.getHandle('hello-1').describe();
    expect(description).toMatchObject({
      status: 'completed',
      workflowType: 'sayHello',
      taskQueue,
      runId: handle.runId,
    });
    expect(description.closeTime).toBeGreaterThanOrEqual(description.startTime);
    expect(description.pendingActivities).toEqual([]);

    const types = (await handle.fetchHistory()).map((e) => e.type);
    expect(types).toEqual([
      'WorkflowExecutionStarted',
      'WorkflowTaskScheduled',
      'WorkflowTaskCompleted',
      'TimerStarted',
      'TimerFired',
      'WorkflowTaskScheduled',
      'WorkflowTaskCompleted',
      'ActivityTaskScheduled',
      'ActivityTaskCompleted',
      'WorkflowTaskScheduled',
      'WorkflowTaskCompleted',
      'WorkflowExecutionCompleted',
    ]);
  });

  test('the timer never fires before its due time', async (ctx) => {
    if (skip) ctx.skip();
    const handle = await t.client.workflow.start(sayHello, { id: 'timer-1', taskQueue, args: ['x'] });
    await handle.result();
    const history = await handle.fetchHistory();
    const started = history.find((e) => e.type === 'TimerStarted');
    const fired = history.find((e) => e.type === 'TimerFired');
    if (started?.type !== 'TimerStarted' || !fired) throw new Error('timer events missing');
    expect(fired.timestamp).toBeGreaterThanOrEqual(started.attributes.fireAt);
  });

  test('workflowInfo describes the run', async (ctx) => {
    if (skip) ctx.skip();
    expect(await t.client.workflow.execute(info, { id: 'info-1', taskQueue })).toEqual({
      workflowId: 'info-1',
      workflowType: 'info',
      taskQueue,
      namespace: 'default',
    });
  });

  test('activities run in parallel and results come back in order', async (ctx) => {
    if (skip) ctx.skip();
    const names = ['a', 'b', 'c', 'd', 'e'];
    expect(await t.client.workflow.execute(parallel, { id: 'parallel-1', taskQueue, args: [names] })).toEqual(
      names.map((n) => `Hello, ${n}`),
    );
  });

  test('a failing activity is retried and sees its attempt number', async (ctx) => {
    if (skip) ctx.skip();
    const key = `${transport}-retry`;
    expect(await t.client.workflow.execute(retrying, { id: 'retry-1', taskQueue, args: [key, 2] })).toBe(
      'ok on attempt 3',
    );
    expect(attempts.get(key)).toBe(3);
    const completed = (await t.client.workflow.getHandle('retry-1').fetchHistory()).find(
      (e) => e.type === 'ActivityTaskCompleted',
    );
    expect(completed?.attributes).toMatchObject({ attempt: 3 });
  });

  test('maximumAttempts stops retries and the workflow fails with ActivityFailure', async (ctx) => {
    if (skip) ctx.skip();
    const key = `${transport}-limited`;
    const error = await t.client.workflow
      .execute(limitedRetries, { id: 'limited-1', taskQueue, args: [key] })
      .catch((e: unknown) => e);
    expect(error).toBeInstanceOf(WorkflowFailedError);
    const cause = (error as WorkflowFailedError).cause;
    expect(cause).toBeInstanceOf(ActivityFailure);
    expect((cause as ActivityFailure).retryState).toBe('maximum-attempts-reached');
    expect((cause.cause as Error).message).toBe('flaky failure 3');
    expect(attempts.get(key)).toBe(3);
  });

  test('ApplicationFailure crosses the wire intact: type, message, details, cause, stack, nonRetryable', async (ctx) => {
    if (skip) ctx.skip();
    const error = (await t.client.workflow
      .execute(payment, { id: 'pay-1', taskQueue, args: [42] })
      .catch((e: unknown) => e)) as WorkflowFailedError;
    expect(error).toBeInstanceOf(WorkflowFailedError);
    expect(error.status).toBe('failed');
    const activityFailure = error.cause as ActivityFailure;
    expect(activityFailure).toBeInstanceOf(ActivityFailure);
    expect(activityFailure.attempt).toBe(1);
    expect(activityFailure.retryState).toBe('non-retryable-failure');
    const appFailure = activityFailure.cause as ApplicationFailure;
    expect(appFailure).toBeInstanceOf(ApplicationFailure);
    expect(appFailure.type).toBe('CardDeclined');
    expect(appFailure.message).toBe('card declined for 42');
    expect(appFailure.nonRetryable).toBe(true);
    expect(appFailure.details).toEqual([{ amount: 42, reason: 'insufficient funds' }]);
    expect(appFailure.stack).toContain('rejectPayment');
    expect((appFailure.cause as Error).message).toBe('bank said no');
  });

  test('workflow code can catch an activity failure and inspect its cause', async (ctx) => {
    if (skip) ctx.skip();
    expect(await t.client.workflow.execute(catchesFailure, { id: 'catch-1', taskQueue })).toEqual({
      outer: 'ActivityFailure',
      innerType: 'CardDeclined',
      details: [{ amount: 5, reason: 'insufficient funds' }],
      isActivityFailure: true,
    });
  });

  test('the server enforces start-to-close: a hung attempt times out, is retried, then fails', async (ctx) => {
    if (skip) ctx.skip();
    const handle = await t.client.workflow.start(timesOut, { id: 'timeout-1', taskQueue });
    await waitFor(async () => (await handle.describe()).pendingActivities[0]?.state === 'started', {
      what: 'first attempt to start',
    });
    t.skipTime('6s');
    await waitFor(async () => (await handle.describe()).pendingActivities[0]?.attempt === 2, {
      what: 'second attempt',
    });
    const pending = (await handle.describe()).pendingActivities[0];
    expect(pending?.lastFailure).toMatchObject({ type: 'TimeoutFailure' });
    await waitFor(async () => (await handle.describe()).pendingActivities[0]?.state === 'started', {
      what: 'second attempt to start',
    });
    t.skipTime('6s');
    const error = (await handle.result().catch((e: unknown) => e)) as WorkflowFailedError;
    expect(error).toBeInstanceOf(WorkflowFailedError);
    const history = await handle.fetchHistory();
    expect(history.filter((e) => e.type === 'ActivityTaskTimedOut')).toHaveLength(1);
    expect((error.cause.cause as Error).name).toBe('TimeoutFailure');
  });

  test('a missed heartbeat fails the attempt; the retry resumes from the last heartbeat details', async (ctx) => {
    if (skip) ctx.skip();
    const key = `${transport}-heartbeat`;
    const handle = await t.client.workflow.start(heartbeating, { id: 'hb-1', taskQueue, args: [key] });
    await waitFor(async () => (await handle.describe()).pendingActivities[0]?.heartbeatDetails, {
      what: 'first heartbeat',
    });
    t.skipTime('3s');
    expect(await handle.result()).toEqual({ resumedFrom: { step: 7 }, attempt: 2 });
  });

  test('an activity no worker registers stays scheduled, visible in describe', async (ctx) => {
    if (skip) ctx.skip();
    const handle = await t.client.workflow.start(callsUnknownActivity, { id: 'unknown-activity-1', taskQueue });
    const description = await waitFor(
      async () => {
        const d = await handle.describe();
        return d.pendingActivities.length > 0 ? d : undefined;
      },
      { what: 'the activity to be scheduled' },
    );
    expect(description.status).toBe('running');
    expect(description.pendingActivities[0]).toMatchObject({
      activityType: 'notRegisteredAnywhere',
      state: 'scheduled',
      attempt: 1,
    });
    await new Promise((resolve) => setTimeout(resolve, 200));
    expect((await handle.describe()).pendingActivities[0]).toMatchObject({ state: 'scheduled', attempt: 1 });
  });

  test('list filters by status and type and pages through every run', async (ctx) => {
    if (skip) ctx.skip();
    for (let i = 0; i < 5; i++) {
      await t.client.workflow.execute(info, { id: `list-${i}`, taskQueue });
    }
    const seen: string[] = [];
    for await (const run of t.client.workflow.list({ workflowType: 'info', status: 'completed', pageSize: 2 })) {
      seen.push(run.workflowId);
    }
    expect(seen).toEqual(expect.arrayContaining(['list-0', 'list-1', 'list-2', 'list-3', 'list-4']));
    expect(new Set(seen).size).toBe(seen.length);
    const running = [];
    for await (const run of t.client.workflow.list({ status: 'running' })) running.push(run.workflowId);
    expect(running).not.toContain('list-0');
  });

  test('history is paginated', async (ctx) => {
    if (skip) ctx.skip();
    await t.client.workflow.execute(sayHello, { id: 'page-1', taskQueue, args: ['p'] });
    const first = await t.connection.api.getWorkflowHistory('default', { workflowId: 'page-1', pageSize: 5 });
    expect(first.events.map((e) => e.eventId)).toEqual([1, 2, 3, 4, 5]);
    expect(first.nextEventId).toBe(6);
    const rest = await t.connection.api.getWorkflowHistory('default', { workflowId: 'page-1', fromEventId: 6 });
    expect(rest.events[0]?.eventId).toBe(6);
    expect(rest.nextEventId).toBeUndefined();
  });
});
