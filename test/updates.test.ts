import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { TidewayApiError, WorkflowUpdateFailedError } from '../src/client/index.js';
import { condition, defineSignal, defineUpdate, proxyActivities, setHandler, sleep } from '../src/workflow/index.js';
import { skipBackend } from './support/backend.js';
import { createTideway, type TestTideway, TRANSPORTS } from './support/env.js';
import { waitFor } from './support/wait.js';

const setLimit = defineUpdate<number, [limit: number]>('setLimit');
const reserve = defineUpdate<string, [item: string]>('reserve');
const explode = defineUpdate<never>('explode');
const finish = defineSignal('finish');

const activities = {
  async book(item: string): Promise<string> {
    return `booked ${item}`;
  },
};
const { book } = proxyActivities<typeof activities>({ startToCloseTimeout: '10s' });

async function shop(): Promise<{ limit: number; reserved: string[] }> {
  let limit = 10;
  let done = false;
  const reserved: string[] = [];
  setHandler(
    setLimit,
    async (n) => {
      limit = n;
      return limit;
    },
    {
      validator: (n) => {
        if (n < 0) throw new Error('limit must be >= 0');
      },
    },
  );
  setHandler(reserve, async (item) => {
    await sleep('1s');
    const receipt = await book(item);
    reserved.push(item);
    return receipt;
  });
  setHandler(explode, async () => {
    throw new Error('handler blew up');
  });
  setHandler(finish, () => {
    done = true;
  });
  await condition(() => done);
  return { limit, reserved };
}

describe.each(TRANSPORTS)('updates over %s', (transport) => {
  let t: TestTideway;
  let skip = false;
  const taskQueue = 'updates';
  beforeAll(async () => {
    skip = await skipBackend();
    if (skip) return;
    t = await createTideway(transport);
    await t.startWorker({ taskQueue, workflows: { shop }, activities });
  });
  afterAll(async () => {
    await t?.teardown();
  });

  test('executeUpdate returns the handler result and the workflow state changes', async (ctx) => {
    if (skip) ctx.skip();
    const handle = await t.client.workflow.start(shop, { id: 'shop-1', taskQueue });
    expect(await handle.executeUpdate(setLimit, { args: [5] })).toBe(5);
    await handle.signal(finish);
    expect(await handle.result()).toEqual({ limit: 5, reserved: [] });
    const types = (await handle.fetchHistory()).map((e) => e.type);
    expect(types).toContain('WorkflowExecutionUpdateAccepted');
    expect(types).toContain('WorkflowExecutionUpdateCompleted');
    // The worker kept the run cached after the update's task: the signal's task carried on from there
    // without running the accepted update again (which failed the task and cost a 1 s retry).
    expect(types).not.toContain('WorkflowTaskFailed');
  });

  test('a validator rejection returns an error and leaves no trace in history', async (ctx) => {
    if (skip) ctx.skip();
    const handle = await t.client.workflow.start(shop, { id: 'shop-2', taskQueue });
    await waitFor(async () => (await handle.describe()).historyLength >= 3, { what: 'the first task' });
    const before = await handle.fetchHistory();
    const error = (await handle
      .executeUpdate(setLimit, { args: [-1] })
      .catch((e: unknown) => e)) as WorkflowUpdateFailedError;
    expect(error).toBeInstanceOf(WorkflowUpdateFailedError);
    expect(error.stage).toBe('rejected');
    expect(error.cause.message).toBe('limit must be >= 0');
    expect(await handle.fetchHistory()).toEqual(before);
    const unknown = (await handle.executeUpdate('nope').catch((e: unknown) => e)) as WorkflowUpdateFailedError;
    expect(unknown.stage).toBe('rejected');
    expect(unknown.cause.message).toMatch(/no handler for update "nope".*explode, reserve, setLimit/);
    expect(await handle.fetchHistory()).toEqual(before);
    await handle.terminate('done');
  });

  test('a handler may await timers and activities; startUpdate returns once accepted', async (ctx) => {
    if (skip) ctx.skip();
    const handle = await t.client.workflow.start(shop, { id: 'shop-3', taskQueue });
    const update = await handle.startUpdate(reserve, { args: ['lamp'] });
    await waitFor(async () => (await handle.fetchHistory()).some((e) => e.type === 'TimerStarted'), {
      what: 'the handler timer',
    });
    t.skipTime('1s');
    expect(await update.result()).toBe('booked lamp');
    await handle.signal(finish);
    expect(await handle.result()).toEqual({ limit: 10, reserved: ['lamp'] });
  });

  test('the same update id twice runs the update once', async (ctx) => {
    if (skip) ctx.skip();
    const handle = await t.client.workflow.start(shop, { id: 'shop-4', taskQueue });
    const [a, b] = await Promise.all([
      handle.executeUpdate(setLimit, { args: [7], updateId: 'u-7' }),
      handle.executeUpdate(setLimit, { args: [7], updateId: 'u-7' }),
    ]);
    expect([a, b]).toEqual([7, 7]);
    expect(await handle.executeUpdate(setLimit, { args: [7], updateId: 'u-7' })).toBe(7);
    const accepted = (await handle.fetchHistory()).filter((e) => e.type === 'WorkflowExecutionUpdateAccepted');
    expect(accepted).toHaveLength(1);
    await handle.terminate('done');
  });

  test('a failing handler fails the update, not the workflow', async (ctx) => {
    if (skip) ctx.skip();
    const handle = await t.client.workflow.start(shop, { id: 'shop-5', taskQueue });
    const error = (await handle.executeUpdate(explode).catch((e: unknown) => e)) as WorkflowUpdateFailedError;
    expect(error.stage).toBe('failed');
    expect(error.cause.message).toBe('handler blew up');
    expect((await handle.describe()).status).toBe('running');
    await handle.terminate('done');
  });

  test('an update to a closed workflow is refused', async (ctx) => {
    if (skip) ctx.skip();
    const handle = await t.client.workflow.start(shop, { id: 'shop-6', taskQueue });
    await handle.signal(finish);
    await handle.result();
    const error = (await handle.executeUpdate(setLimit, { args: [1] }).catch((e: unknown) => e)) as TidewayApiError;
    expect(error).toBeInstanceOf(TidewayApiError);
    expect(error.message).toMatch(/not running/);
  });
});

describe('updates and replay', () => {
  let t: TestTideway;
  let skip = false;
  beforeAll(async () => {
    skip = await skipBackend();
    if (skip) return;
    t = await createTideway('in-process');
    // No cache: each task replays the history, accepted updates included.
    await t.startWorker({ taskQueue: 'updates-replay', workflows: { shop }, activities, maxCachedWorkflows: 0 });
  });
  afterAll(async () => {
    await t?.teardown();
  });

  test('accepted updates replay deterministically', async (ctx) => {
    if (skip) ctx.skip();
    const handle = await t.client.workflow.start(shop, { id: 'shop-replay', taskQueue: 'updates-replay' });
    expect(await handle.executeUpdate(setLimit, { args: [3] })).toBe(3);
    const reservation = await handle.startUpdate(reserve, { args: ['desk'] });
    await waitFor(async () => (await handle.fetchHistory()).some((e) => e.type === 'TimerStarted'), {
      what: 'the handler timer',
    });
    t.skipTime('1s');
    expect(await reservation.result()).toBe('booked desk');
    await expect(handle.executeUpdate(setLimit, { args: [-5] })).rejects.toThrow(/limit must be >= 0/);
    await handle.signal(finish);
    expect(await handle.result()).toEqual({ limit: 3, reserved: ['desk'] });
    expect((await handle.fetchHistory()).filter((e) => e.type === 'WorkflowTaskFailed')).toEqual([]);
  });
});
