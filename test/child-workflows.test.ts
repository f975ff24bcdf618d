import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { ApplicationFailure, type ChildWorkflowFailure, type WorkflowFailedError } from '../src/client/index.js';
import {
  CancellationScope,
  condition,
  defineSignal,
  executeChild,
  isCancellation,
  proxyActivities,
  setHandler,
  sleep,
  startChild,
} from '../src/workflow/index.js';
import { skipBackend } from './support/backend.js';
import { createTideway, type TestTideway, TRANSPORTS } from './support/env.js';
import { waitFor } from './support/wait.js';

const activities = {
  async double(n: number): Promise<number> {
    return n * 2;
  },
};
const { double } = proxyActivities<typeof activities>({ startToCloseTimeout: '10s' });
const release = defineSignal('release');

async function doubler(n: number): Promise<number> {
  return await double(n);
}
async function failingChild(): Promise<never> {
  throw ApplicationFailure.nonRetryable('child gave up', 'ChildGaveUp');
}
async function waitsForRelease(): Promise<string> {
  let released = false;
  setHandler(release, () => {
    released = true;
  });
  await condition(() => released);
  return 'released';
}
async function sleeper(): Promise<string> {
  await sleep('1 day');
  return 'woke';
}

async function parentOfMany(): Promise<number[]> {
  return await Promise.all([1, 2, 3].map((n) => executeChild(doubler, { args: [n] })));
}
async function parentOfFailing(): Promise<string> {
  try {
    await executeChild(failingChild, { workflowId: 'the-failing-child' });
    return 'unexpected';
  } catch (error) {
    const failure = error as ChildWorkflowFailure;
    return `${failure.name}/${failure.status}/${(failure.cause as ApplicationFailure).type}`;
  }
}
async function parentThatLeaves(policy: 'terminate' | 'request-cancel' | 'abandon', childId: string): Promise<string> {
  await startChild(sleeper, { workflowId: childId, parentClosePolicy: policy });
  return 'parent done';
}
async function parentCancelsChild(): Promise<string> {
  const scope = new CancellationScope();
  const result = scope.run(() => executeChild(sleeper, { workflowId: 'cancelled-child' }));
  await sleep('1s');
  scope.cancel('not needed');
  try {
    await result;
    return 'child finished';
  } catch (error) {
    return isCancellation(error) ? 'child cancelled' : `other: ${(error as Error).message}`;
  }
}
async function parentOfDuplicate(): Promise<string> {
  await startChild(waitsForRelease, { workflowId: 'dup-child' });
  try {
    await startChild(waitsForRelease, { workflowId: 'dup-child' });
    return 'started twice';
  } catch (error) {
    return (error as ApplicationFailure).type;
  }
}

const workflows = {
  doubler,
  failingChild,
  waitsForRelease,
  sleeper,
  parentOfMany,
  parentOfFailing,
  parentThatLeaves,
  parentCancelsChild,
  parentOfDuplicate,
};

describe.each(TRANSPORTS)('child workflows over %s', (transport) => {
  let t: TestTideway;
  let skip = false;
  const taskQueue = 'children';
  beforeAll(async () => {
    skip = await skipBackend();
    if (skip) return;
    t = await createTideway(transport);
    await t.startWorker({ taskQueue, workflows, activities });
  });
  afterAll(async () => {
    await t?.teardown();
  });

  test('children run and return their results to the parent', async (ctx) => {
    if (skip) ctx.skip();
    const handle = await t.client.workflow.start(parentOfMany, { id: 'parent-1', taskQueue });
    expect(await handle.result()).toEqual([2, 4, 6]);
    const child = await t.client.workflow.getHandle('parent-1/child-2').describe();
    expect(child).toMatchObject({ status: 'completed', workflowType: 'doubler', taskQueue });
    const types = (await handle.fetchHistory()).map((e) => e.type);
    expect(types.filter((type) => type === 'ChildWorkflowExecutionCompleted')).toHaveLength(3);
  });

  test('a child failure reaches the parent as ChildWorkflowFailure with its cause', async (ctx) => {
    if (skip) ctx.skip();
    const handle = await t.client.workflow.start(parentOfFailing, { id: 'parent-2', taskQueue });
    expect(await handle.result()).toBe('ChildWorkflowFailure/failed/ChildGaveUp');
  });

  test('a parent that fails with a child failure carries the chain to the client', async (ctx) => {
    if (skip) ctx.skip();
    const error = (await t.client.workflow
      .execute('failingChild', { id: 'lonely-failing', taskQueue })
      .catch((e: unknown) => e)) as WorkflowFailedError;
    expect(error.cause).toBeInstanceOf(ApplicationFailure);
  });

  test.for([
    ['terminate', 'terminated'],
    ['request-cancel', 'cancelled'],
    ['abandon', 'running'],
  ] as const)('parent close policy %s leaves the child %s', async ([policy, expected], ctx) => {
    if (skip) ctx.skip();
    const childId = `policy-child-${policy}`;
    const handle = await t.client.workflow.start(parentThatLeaves, {
      id: `policy-parent-${policy}`,
      taskQueue,
      args: [policy, childId],
    });
    expect(await handle.result()).toBe('parent done');
    await waitFor(async () => (await t.client.workflow.getHandle(childId).describe()).status === expected, {
      what: `the child to be ${expected}`,
    });
    if (expected === 'running') await t.client.workflow.getHandle(childId).terminate('test cleanup');
  });

  test('cancelling the scope of a child cancels the child', async (ctx) => {
    if (skip) ctx.skip();
    const handle = await t.client.workflow.start(parentCancelsChild, { id: 'parent-cancel', taskQueue });
    await waitFor(async () => (await handle.fetchHistory()).some((e) => e.type === 'ChildWorkflowExecutionStarted'), {
      what: 'the child to start',
    });
    await waitFor(async () => (await handle.fetchHistory()).some((e) => e.type === 'TimerStarted'), {
      what: 'the parent timer',
    });
    t.skipTime('1s');
    expect(await handle.result()).toBe('child cancelled');
    expect((await t.client.workflow.getHandle('cancelled-child').describe()).status).toBe('cancelled');
  });

  test('starting a child whose id is running fails in the parent, not the run', async (ctx) => {
    if (skip) ctx.skip();
    const handle = await t.client.workflow.start(parentOfDuplicate, { id: 'parent-dup', taskQueue });
    expect(await handle.result()).toBe('ChildWorkflowStartFailed');
    // Its first child was terminated by the default close policy when the parent finished.
    await waitFor(async () => (await t.client.workflow.getHandle('dup-child').describe()).status === 'terminated', {
      what: 'the first child to be terminated',
    });
  });
});
