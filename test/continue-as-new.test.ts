import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { TimeoutFailure, WorkflowFailedError } from '../src/client/index.js';
import { condition, continueAsNew, defineSignal, proxyActivities, setHandler, sleep } from '../src/workflow/index.js';
import { skipBackend } from './support/backend.js';
import { createTideway, type TestTideway, TRANSPORTS } from './support/env.js';
import { waitFor } from './support/wait.js';

const activities = {
  async addOne(n: number): Promise<number> {
    return n + 1;
  },
};
const { addOne } = proxyActivities<typeof activities>({ startToCloseTimeout: '10s' });
const go = defineSignal('go');

/** Counts to `target`, one activity per run, continuing as new after each step. */
async function counter(n: number, target: number): Promise<number> {
  if (n >= target) return n;
  const next = await addOne(n);
  return await continueAsNew<typeof counter>(next, target);
}

async function waitsForGo(): Promise<string> {
  let released = false;
  setHandler(go, () => {
    released = true;
  });
  await condition(() => released);
  return 'released';
}

/** Each run sleeps 10 minutes and continues: only the execution timeout, over the whole chain, can stop it. */
async function sleepyLoop(round: number): Promise<number> {
  await sleep('10m');
  return await continueAsNew<typeof sleepyLoop>(round + 1);
}

const workflows = { counter, waitsForGo, sleepyLoop };

describe.each(TRANSPORTS)('continue-as-new and workflow timeouts over %s', (transport) => {
  let t: TestTideway;
  let skip = false;
  const taskQueue = 'can';
  beforeAll(async () => {
    skip = await skipBackend();
    if (skip) return;
    t = await createTideway(transport);
    await t.startWorker({ taskQueue, workflows, activities });
  });
  afterAll(async () => {
    await t?.teardown();
  });

  test('a workflow continues as new with fresh history; result() follows the chain', async (ctx) => {
    if (skip) ctx.skip();
    const handle = await t.client.workflow.start(counter, { id: 'count-1', taskQueue, args: [0, 5] });
    expect(await handle.result()).toBe(5);

    const runs = [];
    for await (const run of t.client.workflow.list({ workflowId: 'count-1' })) runs.push(run);
    expect(runs).toHaveLength(6);
    expect(runs.filter((r) => r.status === 'continued-as-new')).toHaveLength(5);
    expect(runs.filter((r) => r.status === 'completed')).toHaveLength(1);

    const first = await t.client.workflow.getHandle('count-1', handle.runId).describe();
    expect(first.status).toBe('continued-as-new');
    expect(first.nextRunId).toBeDefined();
    const firstHistory = await t.client.workflow.getHandle('count-1', handle.runId).fetchHistory();
    expect(firstHistory.at(-1)).toMatchObject({
      type: 'WorkflowExecutionContinuedAsNew',
      attributes: { newRunId: first.nextRunId, workflowType: 'counter', input: [{ data: 1 }, { data: 5 }] },
    });
    // The next run starts from scratch with the new arguments.
    const second = await t.client.workflow.getHandle('count-1', first.nextRunId).fetchHistory();
    expect(second[0]).toMatchObject({ eventId: 1, type: 'WorkflowExecutionStarted' });
  });

  test('a run timeout ends the run as timed out with TimeoutFailure', async (ctx) => {
    if (skip) ctx.skip();
    const handle = await t.client.workflow.start(waitsForGo, { id: 'run-timeout-1', taskQueue, runTimeout: '1h' });
    await waitFor(async () => (await handle.describe()).historyLength >= 3, { what: 'the first task' });
    t.skipTime('1h');
    const error = (await handle.result().catch((e: unknown) => e)) as WorkflowFailedError;
    expect(error).toBeInstanceOf(WorkflowFailedError);
    expect(error.status).toBe('timed-out');
    expect(error.cause).toBeInstanceOf(TimeoutFailure);
    expect((error.cause as TimeoutFailure).timeoutType).toBe('run');
    expect((await handle.fetchHistory()).at(-1)).toMatchObject({
      type: 'WorkflowExecutionTimedOut',
      attributes: { timeoutType: 'run' },
    });
    expect((await handle.describe()).pendingWorkflowTask).toBeUndefined();
  });

  test('the execution timeout spans runs that continue as new', async (ctx) => {
    if (skip) ctx.skip();
    const handle = await t.client.workflow.start(sleepyLoop, {
      id: 'exec-timeout-1',
      taskQueue,
      args: [0],
      executionTimeout: '25m',
    });
    for (let round = 1; round <= 2; round++) {
      await waitFor(
        async () => {
          const runs = [];
          for await (const run of t.client.workflow.list({ workflowId: 'exec-timeout-1', status: 'running' })) {
            runs.push(run);
          }
          const latest = runs[0];
          if (!latest) return false;
          const history = await t.client.workflow.getHandle('exec-timeout-1', latest.runId).fetchHistory();
          return history.some((e) => e.type === 'TimerStarted');
        },
        { what: `round ${round} to sleep` },
      );
      t.skipTime('10m');
      await waitFor(
        async () => {
          let count = 0;
          for await (const _ of t.client.workflow.list({ workflowId: 'exec-timeout-1' })) count++;
          return count > round;
        },
        { what: `round ${round} to continue as new` },
      );
    }
    t.skipTime('6m');
    const error = (await handle.result().catch((e: unknown) => e)) as WorkflowFailedError;
    expect(error.status).toBe('timed-out');
    expect((error.cause as TimeoutFailure).timeoutType).toBe('execution');
  });

  test('a workflow that finishes before its timeout is not affected by it', async (ctx) => {
    if (skip) ctx.skip();
    const handle = await t.client.workflow.start(waitsForGo, { id: 'no-timeout-1', taskQueue, runTimeout: '1h' });
    await handle.signal(go);
    expect(await handle.result()).toBe('released');
    t.skipTime('2h');
    await new Promise((resolve) => setTimeout(resolve, 100));
    expect((await handle.describe()).status).toBe('completed');
  });
});
