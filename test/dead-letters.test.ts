import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { ApplicationFailure, type TidewayApiError, type WorkflowHandle } from '../src/client/index.js';
import type { WorkflowSummary } from '../src/protocol/index.js';
import {
  CancellationScope,
  condition,
  defineSignal,
  proxyActivities,
  setHandler,
  sleep,
} from '../src/workflow/index.js';
import { skipBackend } from './support/backend.js';
import { createTideway, type TestTideway, TRANSPORTS } from './support/env.js';
import { waitFor } from './support/wait.js';

/**
 * Dead letters: runs that cannot make progress are visible and can be dealt
 * with in bulk. A poison workflow (its workflow task fails every time)
 * backs off instead of spinning and is listed with its error; failed and
 * timed-out runs are listed by status; bulk terminate / cancel / reset act
 * on what a filter matches, after a dry run.
 */
const poisonAttempts = new Map<string, number>();

/** Uses setTimeout, which workflow code may not: every workflow task fails. */
async function poisoned(key: string): Promise<string> {
  poisonAttempts.set(key, (poisonAttempts.get(key) ?? 0) + 1);
  await new Promise((resolve) => setTimeout(resolve, 1));
  return 'unreachable';
}

const go = defineSignal('go');
/** Healthy, waits for a signal; cancellable. */
async function waiter(): Promise<string> {
  let released = false;
  setHandler(go, () => {
    released = true;
  });
  await condition(() => released);
  return 'released';
}

async function sleepy(): Promise<string> {
  await sleep('1h');
  return 'rested';
}

let chargeWorks = false;
const chargeCalls = new Map<string, number>();
const activities = {
  async charge(key: string): Promise<string> {
    chargeCalls.set(key, (chargeCalls.get(key) ?? 0) + 1);
    if (!chargeWorks) throw ApplicationFailure.nonRetryable('payment provider rejected the request', 'PaymentBug');
    return `charged ${key}`;
  },
};
const { charge } = proxyActivities<typeof activities>({ startToCloseTimeout: '10s' });
async function payment(key: string): Promise<string> {
  return await charge(key);
}
async function refund(key: string): Promise<string> {
  return await charge(key);
}

/** Sleeps until cancelled, then cleans up and lets the cancellation through. */
async function cancellable(): Promise<string> {
  try {
    await sleep('1 day');
    return 'slept';
  } catch (error) {
    await CancellationScope.nonCancellable(() => sleep('1ms'));
    throw error;
  }
}

const workflows = { poisoned, waiter, sleepy, payment, refund, cancellable };

describe.each(TRANSPORTS)('dead letters over %s', (transport) => {
  let t: TestTideway;
  let skip = false;
  const taskQueue = 'dead-letters';
  beforeAll(async () => {
    skip = await skipBackend();
    if (skip) return;
    t = await createTideway(transport);
    await t.startWorker({ taskQueue, workflows, activities });
  });
  afterAll(async () => {
    await t?.teardown();
  });

  async function list(filter: Parameters<TestTideway['client']['workflow']['list']>[0]): Promise<WorkflowSummary[]> {
    const runs: WorkflowSummary[] = [];
    for await (const run of t.client.workflow.list(filter)) runs.push(run);
    return runs;
  }

  const attemptsOf = (key: string) => poisonAttempts.get(key) ?? 0;
  const pause = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

  test('a poison workflow backs off (1 s doubling to 60 s), records its first failure once, and is listed with its error', async (ctx) => {
    if (skip) ctx.skip();
    const key = `${transport}-poison`;
    const handle = await t.client.workflow.start(poisoned, { id: key, taskQueue, args: [key] });
    const healthy = await t.client.workflow.start(waiter, { id: `${transport}-healthy`, taskQueue });
    await waitFor(() => attemptsOf(key) === 1, { what: 'the first attempt' });

    const expectedDelays = [1, 2, 4, 8, 16, 32, 60, 60].map((s) => s * 1000);
    for (const [index, delay] of expectedDelays.entries()) {
      const failures = index + 1;
      const [item] = await waitFor(
        async () => {
          const found = await list({ workflowTaskFailing: true, workflowId: key });
          return found[0]?.workflowTaskFailure?.failures === failures ? found : undefined;
        },
        { what: `failure ${failures} to be listed` },
      );
      const next = item!.workflowTaskFailure!.nextAttemptTime!;
      // The retry waits for its backoff on the engine's clock: no spinning meanwhile.
      expect(next - t.clock.now()).toBeGreaterThan(delay - 1000);
      expect(next - t.clock.now()).toBeLessThanOrEqual(delay);
      await pause(100);
      expect(attemptsOf(key)).toBe(failures);
      t.skipTime(delay);
      await waitFor(() => attemptsOf(key) === failures + 1, { what: `attempt ${failures + 1}` });
    }

    const [item] = await list({ workflowTaskFailing: true });
    expect(item).toMatchObject({
      workflowId: key,
      status: 'running',
      workflowTaskFailure: {
        cause: 'determinism-violation',
        lastFailure: { message: expect.stringMatching(/setTimeout\(\) cannot be used in workflow code/) },
      },
    });
    // Healthy running runs are not dead letters.
    expect((await list({ workflowTaskFailing: true })).map((r) => r.workflowId)).toEqual([key]);
    expect((await list({ workflowId: healthy.workflowId }))[0]?.workflowTaskFailure).toBeUndefined();
    // Only the first failure of the streak is in the history; describe shows the same failure.
    const failed = (await handle.fetchHistory()).filter((e) => e.type === 'WorkflowTaskFailed');
    expect(failed).toHaveLength(1);
    await waitFor(async () => (await handle.describe()).workflowTaskFailure?.failures === expectedDelays.length + 1, {
      what: 'describe to show the last failure',
    });
    await handle.terminate('poison, cleaned up');
    await healthy.signal(go);
    await healthy.result();
    expect(await list({ workflowTaskFailing: true })).toEqual([]);
  });

  test('failed and timed-out runs are listed by status', async (ctx) => {
    if (skip) ctx.skip();
    const failed = await t.client.workflow.start(payment, {
      id: `${transport}-failed`,
      taskQueue,
      args: [`${transport}-failed`],
    });
    await expect(failed.result()).rejects.toThrow(/payment provider rejected/);
    const timedOut = await t.client.workflow.start(sleepy, {
      id: `${transport}-timed-out`,
      taskQueue,
      runTimeout: '1m',
    });
    await waitFor(async () => (await timedOut.fetchHistory()).some((e) => e.type === 'TimerStarted'), {
      what: 'the timer',
    });
    t.skipTime('2m');
    await expect(timedOut.result()).rejects.toThrow(/timed out/);

    const failedRuns = await list({ status: 'failed' });
    expect(failedRuns.map((r) => r.workflowId)).toContain(failed.workflowId);
    expect(failedRuns.every((r) => r.status === 'failed')).toBe(true);
    const timedOutRuns = await list({ status: 'timed-out' });
    expect(timedOutRuns.map((r) => [r.workflowId, r.status])).toEqual([[timedOut.workflowId, 'timed-out']]);
  });

  describe('bulk operations', () => {
    async function poisonRuns(prefix: string, n: number): Promise<WorkflowHandle[]> {
      const handles: WorkflowHandle[] = [];
      for (let i = 0; i < n; i++) {
        const key = `${transport}-${prefix}-${i}`;
        handles.push(await t.client.workflow.start(poisoned, { id: key, taskQueue, args: [key] }));
      }
      await waitFor(async () => (await list({ workflowTaskFailing: true, workflowType: 'poisoned' })).length === n, {
        what: `${n} failing runs`,
      });
      return handles;
    }

    test('terminate every failing run: the dry run counts and lists them and changes nothing; then --yes does it', async (ctx) => {
      if (skip) ctx.skip();
      const poison = await poisonRuns('bulk', 3);
      const bystander = await t.client.workflow.start(waiter, { id: `${transport}-bystander`, taskQueue });

      const preview = await t.client.workflow.bulk(
        'terminate',
        { workflowTaskFailing: true },
        { dryRun: true, listLimit: 2 },
      );
      expect(preview).toMatchObject({
        operation: 'terminate',
        dryRun: true,
        matched: 3,
        affected: 3,
        truncated: false,
      });
      expect(preview.runs).toHaveLength(2);
      expect(preview.runs.every((r) => r.workflowType === 'poisoned' && r.outcome === undefined)).toBe(true);
      const capped = await t.client.workflow.bulk(
        'terminate',
        { workflowTaskFailing: true },
        { dryRun: true, maxRuns: 2 },
      );
      expect(capped).toMatchObject({ matched: 3, affected: 2, truncated: true });
      for (const handle of poison) expect((await handle.describe()).status).toBe('running');

      const done = await t.client.workflow.bulk(
        'terminate',
        { workflowTaskFailing: true },
        { reason: 'poison cleanup' },
      );
      expect(done).toMatchObject({ dryRun: false, matched: 3, affected: 3, notAffected: 0 });
      expect(done.runs.map((r) => r.outcome)).toEqual(['terminated', 'terminated', 'terminated']);
      for (const handle of poison) {
        const d = await handle.describe();
        expect(d.status).toBe('terminated');
        expect(d.workflowTaskFailure).toBeUndefined();
        const history = await handle.fetchHistory();
        expect(history.at(-1)).toMatchObject({
          type: 'WorkflowExecutionTerminated',
          attributes: { reason: 'poison cleanup' },
        });
      }
      expect((await bystander.describe()).status).toBe('running');
      expect(await list({ workflowTaskFailing: true })).toEqual([]);
      // Nothing left to do: a second call matches nothing.
      expect(await t.client.workflow.bulk('terminate', { workflowTaskFailing: true })).toMatchObject({
        matched: 0,
        affected: 0,
        runs: [],
      });
      await bystander.terminate('done');
    });

    test('cancel every running run of a type; runs of other types are left alone', async (ctx) => {
      if (skip) ctx.skip();
      const handles = await Promise.all(
        [0, 1].map((i) => t.client.workflow.start(cancellable, { id: `${transport}-cancel-${i}`, taskQueue })),
      );
      const other = await t.client.workflow.start(waiter, { id: `${transport}-not-cancelled`, taskQueue });
      const response = await t.client.workflow.bulk('cancel', { workflowType: 'cancellable' });
      expect(response).toMatchObject({ matched: 2, affected: 2 });
      expect(response.runs.every((r) => r.outcome === 'cancel-requested')).toBe(true);
      for (const handle of handles) {
        await expect(handle.result()).rejects.toThrow(/cancel/i);
        expect((await handle.describe()).status).toBe('cancelled');
      }
      expect((await other.describe()).status).toBe('running');
      await other.terminate('done');
    });

    test('reset every failed run of a type once the fix is deployed', async (ctx) => {
      if (skip) ctx.skip();
      const keys = [0, 1, 2].map((i) => `${transport}-refund-${i}`);
      const handles = await Promise.all(
        keys.map((key) => t.client.workflow.start(refund, { id: key, taskQueue, args: [key] })),
      );
      for (const handle of handles) await expect(handle.result()).rejects.toThrow(/payment provider rejected/);

      chargeWorks = true;
      try {
        const filter = { status: 'failed', workflowType: 'refund' } as const;
        const preview = await t.client.workflow.bulk('reset', filter, { dryRun: true, resetTo: 'first-workflow-task' });
        expect(preview).toMatchObject({ matched: 3, affected: 3 });
        const one = await t.client.workflow.bulk(
          'reset',
          { ...filter, workflowId: keys[0] },
          { resetTo: 'first-workflow-task', reason: 'payment provider fixed' },
        );
        expect(one).toMatchObject({ matched: 1, affected: 1 });
        expect(one.runs[0]).toMatchObject({ workflowId: keys[0], outcome: 'reset' });
        expect(await handles[0]!.result()).toBe(`charged ${keys[0]}`);

        const rest = await t.client.workflow.bulk('reset', filter, { resetTo: 'first-workflow-task' });
        expect(rest).toMatchObject({ matched: 2, affected: 2 });
        for (const [i, handle] of handles.entries()) expect(await handle.result()).toBe(`charged ${keys[i]}`);
        // The failed runs stay failed (linked to their new runs); only the latest run of an id is ever reset.
        expect(await list(filter)).toHaveLength(3);
        expect(await t.client.workflow.bulk('reset', filter, { dryRun: true })).toMatchObject({ matched: 0 });
      } finally {
        chargeWorks = false;
      }
    });

    test('bad input: terminate or cancel of closed runs, unknown operation, malformed filter', async (ctx) => {
      if (skip) ctx.skip();
      const api = t.client.connection.api;
      const errorOf = (promise: Promise<unknown>) =>
        promise.then(
          () => undefined,
          (e: unknown) => e as TidewayApiError,
        );
      const closed = await errorOf(t.client.workflow.bulk('terminate', { status: 'failed' }));
      expect(closed?.code).toBe('InvalidArgument');
      expect(closed?.message).toMatch(/only running workflows can be terminated.*status "failed"/);
      const unknown = await errorOf(api.bulkWorkflowOperation(t.client.namespace, { operation: 'explode' as never }));
      expect(unknown?.code).toBe('InvalidArgument');
      expect(unknown?.message).toMatch(/operation/);
      const badLimit = await errorOf(
        api.bulkWorkflowOperation(t.client.namespace, { operation: 'terminate', maxRuns: 0 }),
      );
      expect(badLimit?.code).toBe('InvalidArgument');
      expect(badLimit?.message).toMatch(/maxRuns/);
    });
  });
});
