import { randomUUID } from 'node:crypto';
import { afterEach, beforeEach, describe, expect, test } from 'vitest';
import { deprecatePatch, patched, proxyActivities, sideEffect, sleep } from '../src/workflow/index.js';
import { skipBackend } from './support/backend.js';
import { createTideway, type TestTideway } from './support/env.js';
import { waitFor } from './support/wait.js';

const activities = {
  async oldStep(): Promise<string> {
    return 'old';
  },
  async newStep(): Promise<string> {
    return 'new';
  },
  async record(value: string): Promise<string> {
    return value;
  },
};
const { oldStep, newStep, record } = proxyActivities<typeof activities>({ startToCloseTimeout: '10s' });

async function withSideEffect(): Promise<string> {
  const id = sideEffect(() => randomUUID());
  await record(id);
  await sleep('1s');
  return id;
}

// Three versions of one workflow type, deployed one after another.
async function pricingV1(): Promise<string> {
  const step = await oldStep();
  await sleep('1h');
  return step;
}
async function pricingV2(): Promise<string> {
  const step = patched('new-step') ? await newStep() : await oldStep();
  await sleep('1h');
  return step;
}
async function pricingV3(): Promise<string> {
  deprecatePatch('new-step');
  const step = await newStep();
  await sleep('1h');
  return step;
}

describe('versioning and side effects', () => {
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

  async function timerStarted(workflowId: string): Promise<void> {
    await waitFor(
      async () => (await t.client.workflow.getHandle(workflowId).fetchHistory()).some((e) => e.type === 'TimerStarted'),
      { what: `${workflowId} to reach its timer` },
    );
  }

  test('sideEffect runs once; every replay returns the recorded value', async (ctx) => {
    if (skip) ctx.skip();
    await t.startWorker({ taskQueue: 'v', workflows: { withSideEffect }, activities, maxCachedWorkflows: 0 });
    const handle = await t.client.workflow.start(withSideEffect, { id: 'se-1', taskQueue: 'v' });
    await timerStarted('se-1');
    t.skipTime('1s');
    const id = await handle.result();
    const history = await handle.fetchHistory();
    const marker = history.find((e) => e.type === 'MarkerRecorded');
    expect(marker?.attributes).toMatchObject({ markerName: 'side-effect', value: { data: id } });
    const scheduled = history.find((e) => e.type === 'ActivityTaskScheduled');
    expect(scheduled?.type === 'ActivityTaskScheduled' && scheduled.attributes.input[0]?.data).toBe(id);
    expect(history.filter((e) => e.type === 'WorkflowTaskFailed')).toEqual([]);
  });

  test('patched: runs started before the change keep the old branch, new runs take the new one', async (ctx) => {
    if (skip) ctx.skip();
    const v1 = await t.startWorker({ taskQueue: 'v', workflows: { pricing: pricingV1 }, activities });
    const old = await t.client.workflow.start('pricing', { id: 'price-old', taskQueue: 'v' });
    await timerStarted('price-old');
    await v1.shutdown();

    // Deploy v2 with no cache, so the old run is replayed through the patched code.
    await t.startWorker({ taskQueue: 'v', workflows: { pricing: pricingV2 }, activities, maxCachedWorkflows: 0 });
    const fresh = await t.client.workflow.start('pricing', { id: 'price-new', taskQueue: 'v' });
    await timerStarted('price-new');
    t.skipTime('1h');
    expect(await old.result()).toBe('old');
    expect(await fresh.result()).toBe('new');
    const freshHistory = await fresh.fetchHistory();
    expect(freshHistory.filter((e) => e.type === 'MarkerRecorded').map((e) => e.attributes)).toEqual([
      expect.objectContaining({ markerName: 'patch', markerId: 'new-step' }),
    ]);
    for (const handle of [old, fresh]) {
      expect((await handle.fetchHistory()).filter((e) => e.type === 'WorkflowTaskFailed')).toEqual([]);
    }
  });

  test('deprecatePatch: replays of runs that recorded the patch still match; new runs record nothing', async (ctx) => {
    if (skip) ctx.skip();
    const v2 = await t.startWorker({ taskQueue: 'v', workflows: { pricing: pricingV2 }, activities });
    const patchedRun = await t.client.workflow.start('pricing', { id: 'price-v2', taskQueue: 'v' });
    await timerStarted('price-v2');
    await v2.shutdown();

    await t.startWorker({ taskQueue: 'v', workflows: { pricing: pricingV3 }, activities, maxCachedWorkflows: 0 });
    const v3Run = await t.client.workflow.start('pricing', { id: 'price-v3', taskQueue: 'v' });
    await timerStarted('price-v3');
    t.skipTime('1h');
    expect(await patchedRun.result()).toBe('new');
    expect(await v3Run.result()).toBe('new');
    expect((await v3Run.fetchHistory()).some((e) => e.type === 'MarkerRecorded')).toBe(false);
    for (const handle of [patchedRun, v3Run]) {
      expect((await handle.fetchHistory()).filter((e) => e.type === 'WorkflowTaskFailed')).toEqual([]);
    }
  });
});
