import pg from 'pg';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { TidewayApiError } from '../src/client/index.js';
import { proxyActivities } from '../src/workflow/index.js';
import { BACKEND, skipBackend } from './support/backend.js';
import { createTideway, type TestTideway, TRANSPORTS } from './support/env.js';
import { waitFor } from './support/wait.js';

const activities = {
  async block(): Promise<string> {
    await new Promise((resolve) => setTimeout(resolve, 60_000).unref());
    return 'done';
  },
  async echo(value: string): Promise<string> {
    return value;
  },
};
const { block, echo } = proxyActivities<typeof activities>({ startToCloseTimeout: '2m' });

async function waitsForever(): Promise<string> {
  return await block();
}
async function echoes(value: string): Promise<string> {
  return await echo(value);
}
async function fails(): Promise<never> {
  throw new Error('deliberate');
}

describe.each(TRANSPORTS)('workflow ids over %s', (transport) => {
  let t: TestTideway;
  let skip = false;
  const taskQueue = 'ids';

  beforeAll(async () => {
    skip = await skipBackend();
    if (skip) return;
    t = await createTideway(transport);
    await t.startWorker({ taskQueue, workflows: { waitsForever, echoes, fails }, activities });
  });
  afterAll(async () => {
    await t?.teardown();
  });

  test('a second start of a running id is rejected with WorkflowAlreadyStarted', async (ctx) => {
    if (skip) ctx.skip();
    const first = await t.client.workflow.start(waitsForever, { id: 'dup-1', taskQueue });
    const error = (await t.client.workflow
      .start(waitsForever, { id: 'dup-1', taskQueue })
      .catch((e: unknown) => e)) as TidewayApiError;
    expect(error).toBeInstanceOf(TidewayApiError);
    expect(error.code).toBe('WorkflowAlreadyStarted');
    expect(error.message).toContain('"dup-1" is already running');
    expect(error.details).toMatchObject({ runId: first.runId });
    const runs = [];
    for await (const run of t.client.workflow.list({ workflowId: 'dup-1' })) runs.push(run);
    expect(runs).toHaveLength(1);
  });

  test('a retried start with the same request id returns the same run', async (ctx) => {
    if (skip) ctx.skip();
    const a = await t.client.workflow.start(echoes, { id: 'req-1', taskQueue, args: ['x'], requestId: 'r-123' });
    await a.result();
    const b = await t.client.workflow.start(echoes, { id: 'req-1', taskQueue, args: ['x'], requestId: 'r-123' });
    expect(b.runId).toBe(a.runId);
    const raw = await t.connection.api.startWorkflow('default', {
      workflowId: 'req-1',
      workflowType: 'echoes',
      taskQueue,
      args: [],
      requestId: 'r-123',
    });
    expect(raw).toEqual({ workflowId: 'req-1', runId: a.runId, started: false });
  });

  test('a start of an id without runs sends its guard and its inserts in one message; a used id gets its policy, and the first try wrote nothing', async (ctx) => {
    if (skip || BACKEND !== 'postgres') ctx.skip();
    const messages: string[][] = [];
    const original = pg.Client.prototype.query as (...args: unknown[]) => unknown;
    (pg.Client.prototype as unknown as { query: (...args: unknown[]) => unknown }).query = function (...args) {
      const texts = (args[0] as { texts?: string[] }).texts;
      if (texts) messages.push(texts);
      return original.apply(this, args);
    };
    let first: Awaited<ReturnType<typeof t.client.workflow.start>>;
    try {
      first = await t.client.workflow.start(echoes, { id: 'fresh-1', taskQueue, args: ['a'] });
    } finally {
      pg.Client.prototype.query = original as typeof pg.Client.prototype.query;
    }
    const startMessages = messages.filter((m) => m.some((sql) => sql.includes('INSERT INTO runs')));
    expect(startMessages).toHaveLength(1);
    expect(startMessages[0]!.some((sql) => sql.includes('tideway_expect_new_workflow_id'))).toBe(true);
    // The whole transaction: PostgreSQL commits the message at its end, no BEGIN or COMMIT needed.
    expect(startMessages[0]!.filter((sql) => /^(BEGIN|COMMIT)$/.test(sql))).toEqual([]);
    expect(await first.result()).toBe('a');

    // The id has a run now: the guard stops the inserts, and the reuse policy decides as before.
    const again = await t.client.workflow.start(echoes, { id: 'fresh-1', taskQueue, args: ['b'] });
    expect(again.runId).not.toBe(first.runId);
    expect(await again.result()).toBe('b');
    const runs = [];
    for await (const run of t.client.workflow.list({ workflowId: 'fresh-1' })) runs.push(run);
    expect(runs).toHaveLength(2);
    const history = await t.client.workflow.getHandle('fresh-1', first.runId).fetchHistory();
    expect(history.map((e) => e.type)).toEqual([
      'WorkflowExecutionStarted',
      'WorkflowTaskScheduled',
      'WorkflowTaskCompleted',
      'ActivityTaskScheduled',
      'ActivityTaskCompleted',
      'WorkflowTaskScheduled',
      'WorkflowTaskCompleted',
      'WorkflowExecutionCompleted',
    ]);
  });

  test('reuse policy allow starts a new run after the previous closed', async (ctx) => {
    if (skip) ctx.skip();
    const first = await t.client.workflow.start(echoes, { id: 'reuse-allow', taskQueue, args: ['1'] });
    expect(await first.result()).toBe('1');
    const second = await t.client.workflow.start(echoes, { id: 'reuse-allow', taskQueue, args: ['2'] });
    expect(second.runId).not.toBe(first.runId);
    expect(await second.result()).toBe('2');
    expect(await t.client.workflow.getHandle('reuse-allow').result()).toBe('2');
    expect(await t.client.workflow.getHandle('reuse-allow', first.runId).result()).toBe('1');
  });

  test('reuse policy reject refuses any reuse of a closed id', async (ctx) => {
    if (skip) ctx.skip();
    await t.client.workflow.execute(echoes, { id: 'reuse-reject', taskQueue, args: ['1'] });
    const error = (await t.client.workflow
      .start(echoes, { id: 'reuse-reject', taskQueue, args: ['2'], idReusePolicy: 'reject' })
      .catch((e: unknown) => e)) as TidewayApiError;
    expect(error.code).toBe('WorkflowAlreadyStarted');
    expect(error.message).toContain('reject');
  });

  test('reuse policy allow-if-failed allows only after a failed run', async (ctx) => {
    if (skip) ctx.skip();
    await t.client.workflow.execute(echoes, { id: 'reuse-aif-ok', taskQueue, args: ['1'] });
    const error = (await t.client.workflow
      .start(echoes, { id: 'reuse-aif-ok', taskQueue, args: ['2'], idReusePolicy: 'allow-if-failed' })
      .catch((e: unknown) => e)) as TidewayApiError;
    expect(error.code).toBe('WorkflowAlreadyStarted');

    await t.client.workflow.execute(fails, { id: 'reuse-aif-failed', taskQueue }).catch(() => undefined);
    const retry = await t.client.workflow.start(echoes, {
      id: 'reuse-aif-failed',
      taskQueue,
      args: ['again'],
      idReusePolicy: 'allow-if-failed',
    });
    expect(await retry.result()).toBe('again');
  });

  test('reuse policy terminate-if-running terminates the running run and starts a new one', async (ctx) => {
    if (skip) ctx.skip();
    const first = await t.client.workflow.start(waitsForever, { id: 'reuse-term', taskQueue });
    await waitFor(async () => (await first.describe()).pendingActivities.length > 0, { what: 'activity scheduled' });
    const second = await t.client.workflow.start(echoes, {
      id: 'reuse-term',
      taskQueue,
      args: ['fresh'],
      idReusePolicy: 'terminate-if-running',
    });
    expect(await second.result()).toBe('fresh');
    const old = await first.describe();
    expect(old.status).toBe('terminated');
    expect(old.pendingActivities).toEqual([]);
    const last = (await first.fetchHistory()).at(-1);
    expect(last?.type).toBe('WorkflowExecutionTerminated');
    await expect(first.result()).rejects.toThrow(/terminated/);
  });
});
