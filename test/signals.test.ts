import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { TerminatedFailure, TidewayApiError, WorkflowFailedError } from '../src/client/index.js';
import { condition, defineSignal, proxyActivities, setHandler, sleep } from '../src/workflow/index.js';
import { BACKEND, skipBackend } from './support/backend.js';
import { createTideway, type TestTideway, TRANSPORTS } from './support/env.js';
import { waitFor } from './support/wait.js';

const approve = defineSignal<[by: string]>('approve');
const add = defineSignal<[value: number]>('add');
const finish = defineSignal('finish');

const activities = {
  async note(text: string): Promise<string> {
    return text;
  },
};
const { note } = proxyActivities<typeof activities>({ startToCloseTimeout: '10s' });

async function approval(): Promise<string> {
  let approvedBy: string | undefined;
  setHandler(approve, (by) => {
    approvedBy = by;
  });
  if (!(await condition(() => approvedBy !== undefined, '7 days'))) return 'timed out';
  return `approved by ${approvedBy}`;
}

/** Waits (with a timeout it does not reach), then sleeps on: the condition's timer must be cancelled. */
async function approvalThenSleep(): Promise<string> {
  let approvedBy: string | undefined;
  setHandler(approve, (by) => {
    approvedBy = by;
  });
  await condition(() => approvedBy !== undefined, '1h');
  await sleep('2h');
  return `approved by ${approvedBy}`;
}

/** Sets its handler only after a timer: earlier signals wait in a buffer. */
async function lateHandler(expected: number): Promise<number[]> {
  await sleep('1s');
  const values: number[] = [];
  setHandler(add, (value) => {
    values.push(value);
  });
  await condition(() => values.length >= expected);
  return values;
}

async function collector(): Promise<number[]> {
  const values: number[] = [];
  let done = false;
  setHandler(add, (value) => {
    values.push(value);
  });
  setHandler(finish, () => {
    done = true;
  });
  await condition(() => done);
  await note(`got ${values.length}`);
  return values;
}

async function waitsForFinish(): Promise<string> {
  let done = false;
  setHandler(finish, () => {
    done = true;
  });
  await condition(() => done);
  return 'finished';
}

const workflows = { approval, approvalThenSleep, lateHandler, collector, waitsForFinish };

describe.each(TRANSPORTS)('signals over %s', (transport) => {
  let t: TestTideway;
  let skip = false;
  const taskQueue = 'signals';

  beforeAll(async () => {
    skip = await skipBackend();
    if (skip) return;
    t = await createTideway(transport);
    await t.startWorker({ taskQueue, workflows, activities });
  });
  afterAll(async () => {
    await t?.teardown();
  });

  test('a signal satisfies a condition', async (ctx) => {
    if (skip) ctx.skip();
    const handle = await t.client.workflow.start(approval, { id: 'approve-1', taskQueue });
    await handle.signal(approve, 'ana');
    expect(await handle.result()).toBe('approved by ana');
    const signaled = (await handle.fetchHistory()).filter((e) => e.type === 'WorkflowExecutionSignaled');
    expect(signaled.map((e) => e.attributes)).toEqual([
      expect.objectContaining({ signalName: 'approve', input: [{ encoding: 'json/plain', data: 'ana' }] }),
    ]);
  });

  test('signals may be sent by name', async (ctx) => {
    if (skip) ctx.skip();
    const handle = await t.client.workflow.start('approval', { id: 'approve-by-name', taskQueue });
    await handle.signal('approve', 'bo');
    expect(await handle.result()).toBe('approved by bo');
  });

  test('a condition with a timeout returns false when the timeout passes first', async (ctx) => {
    if (skip) ctx.skip();
    const handle = await t.client.workflow.start(approval, { id: 'approve-timeout', taskQueue });
    await waitFor(async () => (await handle.fetchHistory()).some((e) => e.type === 'TimerStarted'), {
      what: 'the condition timer',
    });
    t.skipTime('7 days');
    expect(await handle.result()).toBe('timed out');
  });

  test('a condition satisfied before its timeout cancels the timer', async (ctx) => {
    if (skip) ctx.skip();
    const handle = await t.client.workflow.start(approvalThenSleep, { id: 'approve-cancel', taskQueue });
    await waitFor(async () => (await handle.fetchHistory()).some((e) => e.type === 'TimerStarted'), {
      what: 'the condition timer',
    });
    await handle.signal(approve, 'cy');
    await waitFor(async () => (await handle.fetchHistory()).some((e) => e.type === 'TimerCanceled'), {
      what: 'the timer to be cancelled',
    });
    t.skipTime('2h');
    expect(await handle.result()).toBe('approved by cy');
    const history = await handle.fetchHistory();
    const started = history.filter((e) => e.type === 'TimerStarted');
    const fired = history.filter((e) => e.type === 'TimerFired');
    expect(started).toHaveLength(2);
    expect(fired.map((e) => e.attributes)).toEqual([expect.objectContaining({ timerId: '2' })]);
  });

  test('signals sent before the handler exists are buffered and delivered in order', async (ctx) => {
    if (skip) ctx.skip();
    const handle = await t.client.workflow.start(lateHandler, { id: 'late-1', taskQueue, args: [3] });
    await handle.signal(add, 1);
    await handle.signal(add, 2);
    await handle.signal(add, 3);
    // Before the handler exists the signals wait, and describe says so.
    await handle.signal('nobodyHandlesThis');
    await waitFor(async () => (await handle.describe()).bufferedSignals.length === 4, { what: 'buffered signals' });
    expect((await handle.describe()).bufferedSignals).toEqual(['add', 'add', 'add', 'nobodyHandlesThis']);
    t.skipTime('1s');
    expect(await handle.result()).toEqual([1, 2, 3]);
  });

  test('a signal to a closed run is refused and nothing is written', async (ctx) => {
    if (skip) ctx.skip();
    const handle = await t.client.workflow.start(approval, { id: 'closed-1', taskQueue });
    await handle.signal(approve, 'x');
    await handle.result();
    const length = (await handle.describe()).historyLength;
    const error = (await handle.signal(approve, 'late').catch((e: unknown) => e)) as TidewayApiError;
    expect(error).toBeInstanceOf(TidewayApiError);
    expect(error.code).toBe('FailedPrecondition');
    expect(error.message).toMatch(/not running \(status: completed\)/);
    expect((await handle.describe()).historyLength).toBe(length);
    const missing = (await t.client.workflow
      .getHandle('never-started')
      .signal(approve, 'x')
      .catch((e: unknown) => e)) as TidewayApiError;
    expect(missing.code).toBe('NotFound');
  });

  test('signalWithStart starts a workflow with the signal, or signals the running one', async (ctx) => {
    if (skip) ctx.skip();
    const first = await t.client.workflow.signalWithStart(collector, {
      id: 'sws-1',
      taskQueue,
      signal: add,
      signalArgs: [10],
    });
    const second = await t.client.workflow.signalWithStart(collector, {
      id: 'sws-1',
      taskQueue,
      signal: add,
      signalArgs: [20],
    });
    expect(second.runId).toBe(first.runId);
    await first.signal(finish);
    expect(await first.result()).toEqual([10, 20]);
    const types = (await first.fetchHistory()).map((e) => e.type);
    expect(types.slice(0, 3)).toEqual([
      'WorkflowExecutionStarted',
      'WorkflowExecutionSignaled',
      'WorkflowTaskScheduled',
    ]);
  });

  test('terminate stops a run at once with the reason; terminating a closed run is refused', async (ctx) => {
    if (skip) ctx.skip();
    const handle = await t.client.workflow.start(waitsForFinish, { id: 'term-1', taskQueue });
    await waitFor(async () => (await handle.describe()).historyLength >= 3, { what: 'the first task' });
    await handle.terminate('operator said so');
    const error = (await handle.result().catch((e: unknown) => e)) as WorkflowFailedError;
    expect(error).toBeInstanceOf(WorkflowFailedError);
    expect(error.status).toBe('terminated');
    expect(error.cause).toBeInstanceOf(TerminatedFailure);
    expect(error.cause.message).toBe('operator said so');
    const last = (await handle.fetchHistory()).at(-1);
    expect(last).toMatchObject({ type: 'WorkflowExecutionTerminated', attributes: { reason: 'operator said so' } });
    const again = (await handle.terminate('twice').catch((e: unknown) => e)) as TidewayApiError;
    expect(again.code).toBe('FailedPrecondition');
  });
});

describe('signal floods', () => {
  let t: TestTideway;
  let skip = false;
  beforeAll(async () => {
    skip = await skipBackend();
    if (skip) return;
    t = await createTideway('in-process');
    // No cache: every workflow task replays the history, signals included, from the start.
    await t.startWorker({ taskQueue: 'flood', workflows, activities, maxCachedWorkflows: 0 });
  });
  afterAll(async () => {
    await t?.teardown();
  });

  // 10,000 on PostgreSQL; on PGlite (one single-threaded embedded store, for development) a quarter as
  // many show the same, in a quarter of the minute and more the full flood takes there.
  const total = BACKEND === 'postgres' ? 10_000 : 2_500;
  test(`${total.toLocaleString('en-US')} signals to one run: none lost, delivered in the order the history recorded them`, async (ctx) => {
    if (skip) ctx.skip();
    const handle = await t.client.workflow.start(collector, { id: 'flood-1', taskQueue: 'flood' });
    let next = 0;
    // 20 senders at once: the order received is the order the server recorded.
    await Promise.all(
      Array.from({ length: 20 }, async () => {
        while (next < total) await handle.signal(add, next++);
      }),
    );
    await handle.signal(finish);
    const values = await handle.result();
    expect(values).toHaveLength(total);
    const recorded = (await handle.fetchHistory())
      .filter((e) => e.type === 'WorkflowExecutionSignaled' && e.attributes.signalName === 'add')
      .map((e) => (e.type === 'WorkflowExecutionSignaled' ? e.attributes.input[0]?.data : undefined));
    expect(values).toEqual(recorded);
    expect(new Set(values).size).toBe(total);
  }, 120_000);
});
