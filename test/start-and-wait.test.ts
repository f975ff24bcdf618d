import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { type HttpTransport, WorkflowFailedError } from '../src/client/index.js';
import { Engine } from '../src/engine/index.js';
import { notifyKeys } from '../src/engine/notifier.js';
import { ApplicationFailure, type StartWorkflowRequest, toPayload } from '../src/protocol/index.js';
import { condition, defineSignal, proxyActivities, setHandler } from '../src/workflow/index.js';
import { BACKEND, skipBackend } from './support/backend.js';
import { type CallCounter, countRunReads } from './support/counters.js';
import { createTideway, type TestTideway } from './support/env.js';
import { waitFor } from './support/wait.js';

// Start-and-wait: a start with `waitForResultMs` answers once the run closes, with its outcome
// (src/engine/start-workflow.ts); `client.workflow.execute` sends one such request instead of a
// start and a result wait (src/client/client.ts).

const NS = 'default';
const skip = await skipBackend();

const activities = {
  async double(n: number): Promise<number> {
    return n * 2;
  },
  async refuse(): Promise<never> {
    throw ApplicationFailure.nonRetryable('not today', 'Refused');
  },
};
const { double, refuse } = proxyActivities<typeof activities>({ startToCloseTimeout: '10s' });

async function doubler(n: number): Promise<number> {
  return await double(n);
}
async function refuser(): Promise<void> {
  await refuse();
}
const go = defineSignal('go');
/** Closes only once signalled. */
async function gated(): Promise<string> {
  let open = false;
  setHandler(go, () => {
    open = true;
  });
  await condition(() => open);
  return 'opened';
}

describe.skipIf(skip)('start-and-wait in the engine', () => {
  let t: TestTideway;
  let engine: Engine;
  let reads: CallCounter;
  beforeAll(async () => {
    t = await createTideway('in-process', { replayCheck: false });
    engine = t.env.engine;
    reads = countRunReads(engine);
  });
  afterAll(() => t?.teardown());

  const manualStart = (id: string, extra: Partial<StartWorkflowRequest> = {}) =>
    engine.startWorkflow(NS, { workflowId: id, workflowType: 'manual', taskQueue: id, ...extra });

  async function completeNextTask(queue: string, result: unknown): Promise<void> {
    const { task } = await engine.pollWorkflowTask(NS, { taskQueue: queue, types: ['manual'], waitMs: 5000 });
    await engine.completeWorkflowTask(NS, {
      taskToken: task!.taskToken,
      commands: [{ type: 'CompleteWorkflow', result: toPayload(result) }],
    });
  }

  test('answers when the run closes, with the outcome a result wait gives, without reading the run', async () => {
    reads.count = 0;
    const started = manualStart('sw-done', { waitForResultMs: 10_000 });
    await completeNextTask('sw-done', { n: 7 });
    const response = await started;
    expect(response).toMatchObject({ workflowId: 'sw-done', started: true });
    expect(response.outcome).toEqual({ runId: response.runId, status: 'completed', result: toPayload({ n: 7 }) });
    // The start watched its own run's close from before the run existed: nothing to read back.
    expect(reads.count).toBe(0);
    expect(response.outcome).toEqual(await engine.getWorkflowResult(NS, { workflowId: 'sw-done' }));
  });

  test('a run still running when the wait runs out answers status running, and keeps running', async () => {
    const response = await manualStart('sw-slow', { waitForResultMs: 50 });
    expect(response.outcome).toEqual({ runId: response.runId, status: 'running' });
    expect((await engine.describeWorkflow(NS, { workflowId: 'sw-slow' })).status).toBe('running');
    await completeNextTask('sw-slow', 'late');
    expect(await engine.getWorkflowResult(NS, { workflowId: 'sw-slow', waitMs: 5000 })).toMatchObject({
      status: 'completed',
      result: toPayload('late'),
    });
  });

  test('a start without waitForResultMs answers at once, with no outcome', async () => {
    const response = await manualStart('sw-nowait');
    expect(response.outcome).toBeUndefined();
    expect(response.started).toBe(true);
  });

  test('a retried start (same request id) waits on the run the first one created, reading it', async () => {
    const first = await manualStart('sw-retry', { requestId: 'req-1' });
    await completeNextTask('sw-retry', 'first');
    reads.count = 0;
    const again = await manualStart('sw-retry', { requestId: 'req-1', waitForResultMs: 5000 });
    expect(again).toMatchObject({ runId: first.runId, started: false });
    expect(again.outcome).toMatchObject({ status: 'completed', result: toPayload('first') });
    expect(reads.count).toBeGreaterThan(0);
  });

  test('a refused start does not wait: WorkflowAlreadyStarted, and the running run is untouched', async () => {
    const first = await manualStart('sw-twice');
    const at = Date.now();
    await expect(manualStart('sw-twice', { waitForResultMs: 10_000 })).rejects.toMatchObject({
      code: 'WorkflowAlreadyStarted',
    });
    expect(Date.now() - at).toBeLessThan(5000);
    const described = await engine.describeWorkflow(NS, { workflowId: 'sw-twice' });
    expect(described).toMatchObject({ runId: first.runId, status: 'running' });
  });

  test.each([
    [-1, 'waitForResultMs'],
    [120_001, 'waitForResultMs'],
    ['soon', 'waitForResultMs'],
    [1.5, 'waitForResultMs'],
  ])(
    'waitForResultMs %j is refused with InvalidArgument naming the field, and starts nothing',
    async (value, field) => {
      const id = `sw-bad-${String(value)}`;
      const error = await manualStart(id, { waitForResultMs: value as number }).catch((e: unknown) => e);
      expect(error).toMatchObject({ code: 'InvalidArgument' });
      expect((error as Error).message).toContain(field);
      await expect(engine.describeWorkflow(NS, { workflowId: id })).rejects.toMatchObject({ code: 'NotFound' });
    },
  );
});

describe.skipIf(skip || BACKEND !== 'postgres')('start-and-wait across two servers', () => {
  let t: TestTideway;
  let other: Engine;
  beforeAll(async () => {
    t = await createTideway('in-process', { replayCheck: false });
    other = await Engine.open({ databaseUrl: t.databaseUrl! });
  });
  afterAll(async () => {
    await other?.close();
    await t?.teardown();
  });

  test('a run closed by another server wakes the start waiting on this one', async () => {
    const engine = t.env.engine;
    const started = engine.startWorkflow(NS, {
      workflowId: 'sw-elsewhere',
      workflowType: 'manual',
      taskQueue: 'sw-elsewhere',
      waitForResultMs: 20_000,
    });
    // The other server's poll finds the task (the start's notification reached it) and closes the run there.
    const { task } = await other.pollWorkflowTask(NS, { taskQueue: 'sw-elsewhere', types: ['manual'], waitMs: 10_000 });
    expect(task).toBeTruthy();
    const at = Date.now();
    await other.completeWorkflowTask(NS, {
      taskToken: task!.taskToken,
      commands: [{ type: 'CompleteWorkflow', result: toPayload('from b') }],
    });
    const response = await started;
    expect(response.outcome).toMatchObject({ status: 'completed', result: toPayload('from b') });
    // Woken by the close's notification, not by the wait running out.
    expect(Date.now() - at).toBeLessThan(10_000);
  });
});

describe.skipIf(skip)('client.workflow.execute over HTTP', () => {
  let t: TestTideway;
  let resultWaits = 0;
  let starts: StartWorkflowRequest[] = [];
  /** Makes the starts' waits this short instead of the client's own (to reach the fallback quickly). */
  let shortenWaitTo: number | undefined;
  beforeAll(async () => {
    t = await createTideway('http');
    const api = t.connection.api as HttpTransport;
    const getResult = api.getWorkflowResult;
    api.getWorkflowResult = (namespace, ref) => {
      resultWaits++;
      return getResult(namespace, ref);
    };
    const start = api.startWorkflow;
    api.startWorkflow = (namespace, request) => {
      const sent =
        shortenWaitTo !== undefined && request.waitForResultMs !== undefined
          ? { ...request, waitForResultMs: shortenWaitTo }
          : request;
      starts.push(sent);
      return start(namespace, sent);
    };
    await t.startWorker({ taskQueue: 'sw', workflows: { doubler, refuser, gated }, activities });
  });
  afterAll(() => t?.teardown());

  test('returns the result from one request: no separate result wait', async () => {
    resultWaits = 0;
    starts = [];
    expect(await t.client.workflow.execute(doubler, { id: 'sw-http-1', taskQueue: 'sw', args: [21] })).toBe(42);
    expect(starts).toHaveLength(1);
    expect(starts[0]!.waitForResultMs).toBeGreaterThan(0);
    expect(resultWaits).toBe(0);
  });

  test('a failed workflow throws WorkflowFailedError with its cause', async () => {
    const error = await t.client.workflow.execute(refuser, { id: 'sw-http-2', taskQueue: 'sw' }).catch((e) => e);
    expect(error).toBeInstanceOf(WorkflowFailedError);
    expect((error as WorkflowFailedError).status).toBe('failed');
    expect(String((error as Error).cause)).toContain('not today');
  });

  test('a workflow that outlasts the start’s wait is awaited with result waits', async () => {
    resultWaits = 0;
    shortenWaitTo = 100;
    try {
      const result = t.client.workflow.execute(gated, { id: 'sw-http-3', taskQueue: 'sw' });
      await waitFor(() => resultWaits > 0, { what: 'the client to fall back to a result wait' });
      await t.client.workflow.getHandle('sw-http-3').signal(go);
      expect(await result).toBe('opened');
    } finally {
      shortenWaitTo = undefined;
    }
  });

  test('a bad waitForResultMs over HTTP is a 400 that names the field', async () => {
    const response = await fetch(`${t.server!.url}/api/v1/namespaces/${NS}/workflows`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({
        workflowId: 'sw-http-bad',
        workflowType: 'doubler',
        taskQueue: 'sw',
        waitForResultMs: 'x',
      }),
    });
    expect(response.status).toBe(400);
    expect(JSON.stringify(await response.json())).toContain('waitForResultMs');
    await expect(t.client.workflow.getHandle('sw-http-bad').describe()).rejects.toMatchObject({ code: 'NotFound' });
  });
});

describe.skipIf(skip)('waits whose client went away', () => {
  let t: TestTideway;
  let engine: Engine;
  beforeAll(async () => {
    t = await createTideway('http', { replayCheck: false });
    engine = t.env.engine;
  });
  afterAll(() => t?.teardown());

  /** Sends `body` to `path` and drops the connection once the server holds the request. */
  async function abandon(path: string, init: RequestInit, runId: () => Promise<string>): Promise<string> {
    const controller = new AbortController();
    const answer = fetch(`${t.server!.url}${path}`, { ...init, signal: controller.signal }).catch((e: unknown) => e);
    const id = await runId();
    const key = notifyKeys.runClosed(NS, id);
    await waitFor(() => engine.ctx.notifier.waitingOn(key) > 0, { what: 'the server to wait for the run' });
    // A start watches its run from before the run exists: give its wait time to begin, so the abort cuts it.
    await new Promise((resolve) => setTimeout(resolve, 100));
    controller.abort();
    await answer;
    return key;
  }

  const runIdOf = (workflowId: string) => async () => {
    await waitFor(async () => (await engine.listWorkflows(NS, { workflowId })).executions.length > 0, {
      what: 'the run to start',
    });
    return (await engine.describeWorkflow(NS, { workflowId })).runId;
  };

  test('a start-and-wait ends its wait when its client disconnects; the run goes on', async () => {
    const key = await abandon(
      `/api/v1/namespaces/${NS}/workflows`,
      {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({
          workflowId: 'sw-gone',
          workflowType: 'manual',
          taskQueue: 'sw-gone',
          waitForResultMs: 60_000,
        }),
      },
      runIdOf('sw-gone'),
    );
    await waitFor(() => engine.ctx.notifier.waitingOn(key) === 0, { what: 'the wait to end', timeoutMs: 2000 });
    expect((await engine.describeWorkflow(NS, { workflowId: 'sw-gone' })).status).toBe('running');
  });

  test('so does a result wait, and a wait among starts sent together', async () => {
    await engine.startWorkflow(NS, { workflowId: 'rw-gone', workflowType: 'manual', taskQueue: 'rw-gone' });
    const resultKey = await abandon(
      `/api/v1/namespaces/${NS}/workflows/rw-gone/result?waitMs=60000`,
      { method: 'GET' },
      runIdOf('rw-gone'),
    );
    await waitFor(() => engine.ctx.notifier.waitingOn(resultKey) === 0, {
      what: 'the result wait to end',
      timeoutMs: 2000,
    });
    // Fifteen waiting starts in one request: each listens for the client going away, with no leak warning.
    const warnings: Error[] = [];
    const onWarning = (warning: Error) => warnings.push(warning);
    process.on('warning', onWarning);
    try {
      const ids = Array.from({ length: 15 }, (_, i) => `ss-gone-${i}`);
      const startsKey = await abandon(
        `/api/v1/namespaces/${NS}/workflow-starts`,
        {
          method: 'POST',
          headers: { 'content-type': 'application/json' },
          body: JSON.stringify({
            starts: ids.map((workflowId) => ({
              workflowId,
              workflowType: 'manual',
              taskQueue: 'ss-gone',
              waitForResultMs: 60_000,
            })),
          }),
        },
        runIdOf(ids[14]!),
      );
      await waitFor(() => engine.ctx.notifier.waitingOn(startsKey) === 0, {
        what: 'the starts’ waits to end',
        timeoutMs: 2000,
      });
      await new Promise((resolve) => setImmediate(resolve));
      expect(warnings.filter((w) => w.name === 'MaxListenersExceededWarning')).toEqual([]);
    } finally {
      process.off('warning', onWarning);
    }
  });
});
