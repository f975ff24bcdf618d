import { afterEach, beforeEach, describe, expect, test } from 'vitest';
import { executeActivity, proxyActivities, sleep, uuid4 } from '../src/workflow/index.js';
import { skipBackend } from './support/backend.js';
import { createTideway, type TestTideway } from './support/env.js';
import { waitFor } from './support/wait.js';

const activities = {
  async record(..._values: unknown[]): Promise<void> {},
  async stepA(): Promise<string> {
    return 'A';
  },
  async stepB(): Promise<string> {
    return 'B';
  },
};
const { record } = proxyActivities<typeof activities>({ startToCloseTimeout: '10s' });

/** Computes non-deterministic-looking values once, records them, and returns them after replays. */
async function clockAndDice(): Promise<unknown> {
  const values = { now: Date.now(), date: new Date().toISOString(), random: Math.random(), uuid: uuid4() };
  await record(values);
  await record('second step');
  await record('third step');
  return values;
}

async function usesSetTimeout(): Promise<string> {
  await new Promise((resolve) => setTimeout(resolve, 10));
  return 'unreachable';
}

// Two versions of the same workflow type: v2 changes the order of steps incompatibly.
async function evolvingV1(): Promise<string> {
  const a = await executeActivity(activities.stepA, [], { startToCloseTimeout: '10s' });
  await sleep('1h');
  return `${a}-done`;
}
async function evolvingV2(): Promise<string> {
  const b = await executeActivity(activities.stepB, [], { startToCloseTimeout: '10s' });
  await sleep('1h');
  return `${b}-done`;
}

describe('determinism', () => {
  let t: TestTideway;
  let skip = false;
  beforeEach(async () => {
    skip = await skipBackend();
    // Runs two versions of one workflow type on purpose: replaying both with the last one would not match.
    if (!skip) t = await createTideway('in-process', { replayCheck: false });
  });
  afterEach(async () => {
    await t?.teardown();
  });

  test('Date, Math.random and uuid4 replay to the same values; Date is the workflow task time', async (ctx) => {
    if (skip) ctx.skip();
    // No cache: every workflow task replays the whole history from the start.
    await t.startWorker({ taskQueue: 'det', workflows: { clockAndDice }, activities, maxCachedWorkflows: 0 });
    const handle = await t.client.workflow.start(clockAndDice, { id: 'dice-1', taskQueue: 'det' });
    const result = (await handle.result()) as { now: number; date: string; random: number; uuid: string };
    const history = await handle.fetchHistory();
    const recorded = history.find((e) => e.type === 'ActivityTaskScheduled');
    if (recorded?.type !== 'ActivityTaskScheduled') throw new Error('no activity scheduled');
    expect(recorded.attributes.input[0]?.data).toEqual(result);
    const firstTask = history.find((e) => e.type === 'WorkflowTaskCompleted');
    if (firstTask?.type !== 'WorkflowTaskCompleted') throw new Error('no task completed');
    expect(result.now).toBe(firstTask.attributes.taskTime);
    expect(new Date(result.date).getTime()).toBe(result.now);
    expect(result.uuid).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
    expect(history.filter((e) => e.type === 'WorkflowTaskFailed')).toEqual([]);
  });

  test('setTimeout in a workflow fails the workflow task (visible), not the run', async (ctx) => {
    if (skip) ctx.skip();
    await t.startWorker({ taskQueue: 'det', workflows: { usesSetTimeout }, activities });
    const handle = await t.client.workflow.start(usesSetTimeout, { id: 'timeout-call-1', taskQueue: 'det' });
    const description = await waitFor(
      async () => {
        const d = await handle.describe();
        return d.pendingWorkflowTask?.lastFailure ? d : undefined;
      },
      { what: 'the workflow task failure' },
    );
    expect(description.status).toBe('running');
    expect(description.pendingWorkflowTask?.lastFailure?.message).toMatch(
      /setTimeout\(\) cannot be used in workflow code.*sleep/,
    );
    expect(description.pendingWorkflowTask?.lastFailure?.info).toMatchObject({ cause: 'determinism-violation' });
    const failed = (await handle.fetchHistory()).filter((e) => e.type === 'WorkflowTaskFailed');
    expect(failed).toHaveLength(1);
    expect(failed[0]?.attributes).toMatchObject({ cause: 'determinism-violation' });
  });

  test('incompatible code fails workflow tasks with NonDeterminismError; the run continues once fixed code is back', async (ctx) => {
    if (skip) ctx.skip();
    const v1 = await t.startWorker({ taskQueue: 'evolve', workflows: { evolving: evolvingV1 }, activities });
    const handle = await t.client.workflow.start('evolving', { id: 'evolve-1', taskQueue: 'evolve' });
    await waitFor(async () => (await handle.fetchHistory()).some((e) => e.type === 'TimerStarted'), {
      what: 'the timer to start',
    });
    await v1.shutdown();

    // A worker with incompatible code replays the history when the timer fires.
    const v2 = await t.startWorker({ taskQueue: 'evolve', workflows: { evolving: evolvingV2 }, activities });
    t.skipTime('1h');
    const broken = await waitFor(
      async () => {
        const d = await handle.describe();
        return d.pendingWorkflowTask?.lastFailure ? d : undefined;
      },
      { what: 'a non-determinism failure' },
    );
    expect(broken.status).toBe('running');
    expect(broken.pendingWorkflowTask?.lastFailure).toMatchObject({ type: 'NonDeterminismError' });
    expect(broken.pendingWorkflowTask?.lastFailure?.message).toContain('stepA');
    await v2.shutdown();

    // Deploying compatible code again lets the run finish; retries back off on the engine's clock.
    await t.startWorker({ taskQueue: 'evolve', workflows: { evolving: evolvingV1 }, activities });
    t.skipTime('2m');
    expect(await handle.result()).toBe('A-done');
    const failures = (await handle.fetchHistory()).filter((e) => e.type === 'WorkflowTaskFailed');
    expect(failures).toHaveLength(1);
    expect(failures[0]?.attributes).toMatchObject({ cause: 'nondeterminism' });
  });
});
