import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { ApplicationFailure, WorkflowFailedError } from '../src/client/index.js';
import { continueAsNew, executeChild, workflowInfo } from '../src/workflow/index.js';
import { skipBackend } from './support/backend.js';
import { createTideway, type TestTideway, TRANSPORTS } from './support/env.js';
import { waitFor } from './support/wait.js';

/** Fails until its third attempt. */
async function flaky(): Promise<string> {
  const { attempt } = workflowInfo();
  if (attempt < 3) throw new Error(`attempt ${attempt} failed`);
  return `succeeded on attempt ${attempt}`;
}
async function alwaysFails(): Promise<never> {
  throw ApplicationFailure.retryable(`attempt ${workflowInfo().attempt} failed`, 'Flaky');
}
async function refusesForGood(): Promise<never> {
  throw ApplicationFailure.nonRetryable('bad input', 'BadInput');
}
async function countdown(n: number): Promise<string> {
  if (n === 0) return 'lift-off';
  return await continueAsNew<typeof countdown>(n - 1);
}
async function parentOfFlakyChild(): Promise<string> {
  return await executeChild(flaky, { workflowId: 'flaky-child', retry: { initialInterval: '1s', maximumAttempts: 5 } });
}
async function parentOfCountdown(): Promise<string> {
  return await executeChild(countdown, { workflowId: 'countdown-child', args: [3] });
}

const workflows = { flaky, alwaysFails, refusesForGood, countdown, parentOfFlakyChild, parentOfCountdown };

describe.each(TRANSPORTS)('workflow retries over %s', (transport) => {
  let t: TestTideway;
  let skip = false;
  const taskQueue = 'wf-retry';
  beforeAll(async () => {
    skip = await skipBackend();
    if (skip) return;
    t = await createTideway(transport);
    await t.startWorker({ taskQueue, workflows });
  });
  afterAll(async () => {
    await t?.teardown();
  });

  async function runsOf(workflowId: string) {
    const runs = [];
    for await (const run of t.client.workflow.list({ workflowId })) runs.push(run);
    return runs;
  }

  /** Skips the backoff of each retry as it appears. */
  async function skipBackoffs(workflowId: string, retries: number): Promise<void> {
    for (let i = 1; i <= retries; i++) {
      await waitFor(async () => (await runsOf(workflowId)).length > i, { what: `retry ${i} of ${workflowId}` });
      t.skipTime('1 minute');
    }
  }

  test('a failed run is retried as a new run after backoff; result() follows to the final run', async (ctx) => {
    if (skip) ctx.skip();
    const handle = await t.client.workflow.start(flaky, {
      id: 'wf-flaky',
      taskQueue,
      retry: { initialInterval: '1s', maximumAttempts: 5 },
    });
    await skipBackoffs('wf-flaky', 2);
    expect(await handle.result()).toBe('succeeded on attempt 3');
    const statuses = (await runsOf('wf-flaky')).map((r) => r.status).sort();
    expect(statuses).toEqual(['completed', 'failed', 'failed']);
    const first = await t.client.workflow.getHandle('wf-flaky', handle.runId).describe();
    expect(first.status).toBe('failed');
    expect(first.nextRunId).toBeDefined();
  });

  test('maximumAttempts bounds the retries; the last failure reaches the client', async (ctx) => {
    if (skip) ctx.skip();
    const handle = await t.client.workflow.start(alwaysFails, {
      id: 'wf-always',
      taskQueue,
      retry: { initialInterval: '1s', maximumAttempts: 2 },
    });
    await skipBackoffs('wf-always', 1);
    const error = (await handle.result().catch((e: unknown) => e)) as WorkflowFailedError;
    expect(error).toBeInstanceOf(WorkflowFailedError);
    expect(error.cause.message).toBe('attempt 2 failed');
    expect(await runsOf('wf-always')).toHaveLength(2);
  });

  test('a non-retryable failure is not retried', async (ctx) => {
    if (skip) ctx.skip();
    const handle = await t.client.workflow.start(refusesForGood, {
      id: 'wf-refuses',
      taskQueue,
      retry: { maximumAttempts: 5 },
    });
    await expect(handle.result()).rejects.toBeInstanceOf(WorkflowFailedError);
    expect(await runsOf('wf-refuses')).toHaveLength(1);
  });

  test('a child with a retry policy reports only its final outcome to the parent', async (ctx) => {
    if (skip) ctx.skip();
    const handle = await t.client.workflow.start(parentOfFlakyChild, { id: 'wf-parent-flaky', taskQueue });
    await skipBackoffs('flaky-child', 2);
    expect(await handle.result()).toBe('succeeded on attempt 3');
    const types = (await handle.fetchHistory()).map((e) => e.type);
    expect(types.filter((type) => type.startsWith('ChildWorkflowExecution'))).toEqual([
      'ChildWorkflowExecutionStarted',
      'ChildWorkflowExecutionCompleted',
    ]);
  });

  test('a child that continues as new reports the result of its last run to the parent', async (ctx) => {
    if (skip) ctx.skip();
    const handle = await t.client.workflow.start(parentOfCountdown, { id: 'wf-parent-countdown', taskQueue });
    expect(await handle.result()).toBe('lift-off');
    expect(await runsOf('countdown-child')).toHaveLength(4);
  });
});
