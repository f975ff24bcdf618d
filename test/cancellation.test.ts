import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { cancellationSignal, heartbeat } from '../src/activity/index.js';
import { CancelledFailure, WorkflowFailedError } from '../src/client/index.js';
import {
  ActivityFailure,
  CancellationScope,
  executeActivity,
  isCancellation,
  proxyActivities,
  sleep,
} from '../src/workflow/index.js';
import { skipBackend } from './support/backend.js';
import { createTideway, type TestTideway, TRANSPORTS } from './support/env.js';
import { waitFor } from './support/wait.js';

const observed = new Map<string, string>();
const activities = {
  async cleanup(what: string): Promise<string> {
    return `cleaned ${what}`;
  },
  /** Heartbeats until cancelled, then reports what it saw. */
  async longExport(key: string): Promise<string> {
    const signal = cancellationSignal();
    for (let i = 0; i < 600; i++) {
      await heartbeat(i).catch(() => undefined); // this activity checks its signal instead
      if (signal.aborted) {
        observed.set(key, String(signal.reason?.message ?? signal.reason));
        throw new Error('export stopped: cancelled');
      }
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
    return 'finished';
  },
};
const { cleanup } = proxyActivities<typeof activities>({ startToCloseTimeout: '10s' });

/** Sleeps; on cancellation cleans up in a non-cancellable scope, then lets the cancellation through. */
async function cancellableWork(): Promise<string> {
  try {
    await sleep('1 day');
    return 'slept';
  } catch (error) {
    if (!isCancellation(error)) throw error;
    await CancellationScope.nonCancellable(() => cleanup('after cancel'));
    throw error;
  }
}

/** Catches the cancellation and completes normally. */
async function swallowsCancel(): Promise<string> {
  try {
    await sleep('1 day');
    return 'slept';
  } catch (error) {
    if (isCancellation(error)) return 'cancelled, but finished cleanly';
    throw error;
  }
}

async function exportsData(key: string): Promise<string> {
  try {
    return await executeActivity(activities.longExport, [key], {
      startToCloseTimeout: '1m',
      heartbeatTimeout: '500ms',
    });
  } catch (error) {
    // Stays open a while, so the activity hears of the cancellation at its next heartbeat.
    await CancellationScope.nonCancellable(() => sleep('1m'));
    return `${error instanceof ActivityFailure ? 'ActivityFailure' : 'other'}:${isCancellation(error)}`;
  }
}

async function withTimeoutScope(): Promise<string> {
  try {
    await CancellationScope.withTimeout('1h', () => sleep('1 day'));
    return 'finished in time';
  } catch (error) {
    return isCancellation(error) ? 'scope timed out' : 'other failure';
  }
}

async function innerScopeCancel(): Promise<string> {
  const scope = new CancellationScope();
  const inner = scope.run(() => sleep('1 day'));
  scope.cancel('changed my mind');
  try {
    await inner;
    return 'slept';
  } catch (error) {
    await sleep('1s');
    return `inner: ${(error as Error).message}`;
  }
}

const workflows = { cancellableWork, swallowsCancel, exportsData, withTimeoutScope, innerScopeCancel };

describe.each(TRANSPORTS)('cancellation over %s', (transport) => {
  let t: TestTideway;
  let skip = false;
  const taskQueue = 'cancel';
  beforeAll(async () => {
    skip = await skipBackend();
    if (skip) return;
    t = await createTideway(transport);
    await t.startWorker({ taskQueue, workflows, activities });
  });
  afterAll(async () => {
    await t?.teardown();
  });

  async function reachedTimer(workflowId: string): Promise<void> {
    await waitFor(
      async () => (await t.client.workflow.getHandle(workflowId).fetchHistory()).some((e) => e.type === 'TimerStarted'),
      { what: `${workflowId} to start its timer` },
    );
  }

  test('cancel raises CancelledFailure at the next await; clean-up runs; the run ends cancelled', async (ctx) => {
    if (skip) ctx.skip();
    const handle = await t.client.workflow.start(cancellableWork, { id: 'cancel-1', taskQueue });
    await reachedTimer('cancel-1');
    await handle.cancel('customer changed plans');
    const error = (await handle.result().catch((e: unknown) => e)) as WorkflowFailedError;
    expect(error).toBeInstanceOf(WorkflowFailedError);
    expect(error.status).toBe('cancelled');
    expect(error.cause).toBeInstanceOf(CancelledFailure);
    expect(error.cause.message).toBe('customer changed plans');
    const types = (await handle.fetchHistory()).map((e) => e.type);
    expect(types).toContain('WorkflowExecutionCancelRequested');
    expect(types).toContain('TimerCanceled');
    expect(types).toContain('ActivityTaskCompleted');
    expect(types.at(-1)).toBe('WorkflowExecutionCanceled');
  });

  test('a workflow may catch the cancellation and complete normally', async (ctx) => {
    if (skip) ctx.skip();
    const handle = await t.client.workflow.start(swallowsCancel, { id: 'cancel-2', taskQueue });
    await reachedTimer('cancel-2');
    await handle.cancel();
    expect(await handle.result()).toBe('cancelled, but finished cleanly');
  });

  test('cancelling reaches a heartbeating activity through its cancellation signal', async (ctx) => {
    if (skip) ctx.skip();
    const key = `${transport}-export`;
    const handle = await t.client.workflow.start(exportsData, { id: 'cancel-3', taskQueue, args: [key] });
    await waitFor(async () => (await handle.describe()).pendingActivities[0]?.heartbeatDetails !== undefined, {
      what: 'the activity to heartbeat',
    });
    const before = Date.now();
    await handle.cancel();
    await waitFor(() => observed.get(key), { what: 'the activity to see the cancellation' });
    expect(observed.get(key)).toMatch(/cancellation requested/);
    // Within a heartbeat interval (heartbeats go out at most every 250 ms here).
    expect(Date.now() - before).toBeLessThan(3000);
    await waitFor(async () => (await handle.fetchHistory()).some((e) => e.type === 'ActivityTaskCanceled'), {
      what: 'the activity to be recorded as cancelled',
    });
    t.skipTime('1m');
    expect(await handle.result()).toBe('ActivityFailure:true');
  });

  test('CancellationScope.withTimeout cancels the work inside when the time is up', async (ctx) => {
    if (skip) ctx.skip();
    const handle = await t.client.workflow.start(withTimeoutScope, { id: 'cancel-4', taskQueue });
    await waitFor(async () => (await handle.fetchHistory()).filter((e) => e.type === 'TimerStarted').length === 2, {
      what: 'both timers',
    });
    t.skipTime('1h');
    expect(await handle.result()).toBe('scope timed out');
  });

  test('cancelling an inner scope cancels only its own work', async (ctx) => {
    if (skip) ctx.skip();
    const handle = await t.client.workflow.start(innerScopeCancel, { id: 'cancel-5', taskQueue });
    await waitFor(async () => (await handle.fetchHistory()).filter((e) => e.type === 'TimerStarted').length >= 1, {
      what: 'the follow-up timer',
    });
    t.skipTime('1s');
    expect(await handle.result()).toBe('inner: changed my mind');
  });

  test('cancelling a closed workflow is refused', async (ctx) => {
    if (skip) ctx.skip();
    const handle = await t.client.workflow.start(swallowsCancel, { id: 'cancel-6', taskQueue });
    await reachedTimer('cancel-6');
    await handle.cancel();
    await handle.result();
    await expect(handle.cancel()).rejects.toThrow(/not running/);
  });
});
