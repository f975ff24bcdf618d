import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import {
  activityInfo,
  CancelledFailure,
  cancellationSignal,
  heartbeat,
  milestone,
  progress,
  stderr,
  stdout,
} from '../src/activity/index.js';
import type { TaskEvent } from '../src/client/index.js';
import {
  ActivityFailure,
  CancellationScope,
  executeActivity,
  isCancellation,
  proxyActivities,
  sleep,
  milestone as workflowMilestone,
} from '../src/workflow/index.js';
import { skipBackend } from './support/backend.js';
import { createTideway, type TestTideway, TRANSPORTS } from './support/env.js';
import { waitFor } from './support/wait.js';

const attemptsSeen = new Map<string, number>();
const cancelledAfterMs = new Map<string, number>();

const activities = {
  /** Exports `rows` rows, reporting progress, milestones and output as it goes. */
  async exportRows(rows: number): Promise<number> {
    for (let i = 0; i < rows; i++) {
      await heartbeat(i);
      await progress(i + 1, rows, { unit: 'rows' });
      if (i % 5 === 0) await milestone('batch', { index: i / 5 + 1 });
      await stdout(`row ${i}\n`);
      await new Promise((resolve) => setTimeout(resolve, 2));
    }
    await stderr('done\n');
    return rows;
  },
  /** Fails its first attempt, succeeds on the second. */
  async flaky(key: string): Promise<string> {
    const attempt = activityInfo().attempt;
    attemptsSeen.set(key, attempt);
    if (attempt === 1) throw new Error('first attempt fails');
    return `ok on attempt ${attempt}`;
  },
  /** Writes far more output than the budget allows. */
  async chatty(): Promise<string> {
    for (let i = 0; i < 200; i++) await stdout(`${'x'.repeat(99)}\n`);
    return 'talked';
  },
  /** Heartbeats every 50 ms until `await heartbeat()` rejects; records how long cancellation took to arrive. */
  async waitForCancel(key: string): Promise<string> {
    const started = Date.now();
    while (Date.now() - started < 20_000) {
      try {
        await heartbeat();
      } catch (error) {
        if (!(error instanceof CancelledFailure)) throw error;
        cancelledAfterMs.set(key, Date.now() - (cancelRequestedAt.get(key) ?? started));
        if (!cancellationSignal().aborted) throw new Error('heartbeat rejected but the signal was not aborted');
        throw error;
      }
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
    return 'never cancelled';
  },
  /** Tries to write a chunk over the limit and returns what the SDK said. */
  async oversized(): Promise<string> {
    try {
      await stdout('x'.repeat(70_000));
      return 'accepted';
    } catch (error) {
      return (error as Error).message;
    }
  },
};
const cancelRequestedAt = new Map<string, number>();

const { exportRows, flaky, chatty } = proxyActivities<typeof activities>({
  startToCloseTimeout: '30s',
  retry: { initialInterval: '10ms', maximumAttempts: 3 },
});

async function exportWorkflow(rows: number): Promise<number> {
  workflowMilestone('export-started', { rows });
  const count = await exportRows(rows);
  workflowMilestone('export-finished');
  return count;
}

async function flakyWorkflow(key: string): Promise<string> {
  return flaky(key);
}

async function chattyWorkflow(): Promise<string> {
  return chatty();
}

async function oversizedWorkflow(): Promise<string> {
  return executeActivity(activities.oversized, [], { startToCloseTimeout: '10s' });
}

async function cancelWaiter(key: string): Promise<string> {
  try {
    return await executeActivity(activities.waitForCancel, [key], {
      startToCloseTimeout: '1m',
      heartbeatTimeout: '2s',
    });
  } catch (error) {
    // Stays open until the activity has heard of the cancellation, then reports how it ended.
    await CancellationScope.nonCancellable(() => sleep('1m'));
    return `${error instanceof ActivityFailure}:${isCancellation(error)}`;
  }
}

const workflows = { exportWorkflow, flakyWorkflow, chattyWorkflow, cancelWaiter, oversizedWorkflow };

async function collect(iterable: AsyncIterable<TaskEvent>): Promise<TaskEvent[]> {
  const events: TaskEvent[] = [];
  for await (const event of iterable) events.push(event);
  return events;
}

const skip = await skipBackend();

describe.skipIf(skip)('task events', () => {
  describe.each(TRANSPORTS)('over %s', (transport) => {
    let t: TestTideway;
    const taskQueue = `task-events-${transport}`;

    beforeAll(async () => {
      t = await createTideway(transport);
      await t.startWorker({ taskQueue, workflows, activities });
    });
    afterAll(() => t?.teardown());

    test('a watcher sees every task event of a run once, in order, and the stream ends when the run closes', async () => {
      const handle = await t.client.workflow.start(exportWorkflow, {
        taskQueue,
        id: `export-${transport}`,
        args: [12],
      });
      const events = await collect(handle.watchEvents());
      expect(await handle.result()).toBe(12);

      expect(events.map((e) => e.seq)).toEqual(events.map((_, i) => i + 1));
      expect(new Set(events.map((e) => e.runId))).toEqual(new Set([events[0]!.runId]));
      const last = events.at(-1)!;
      expect(last).toMatchObject({ source: 'run', kind: 'closed', data: { status: 'completed' } });

      const workflowMilestones = events.filter((e) => e.source === 'workflow' && e.kind === 'milestone');
      expect(workflowMilestones.map((e) => [e.message, e.data])).toEqual([
        ['export-started', { rows: 12 }],
        ['export-finished', undefined],
      ]);
      const activityEvents = events.filter((e) => e.source === 'activity');
      expect(activityEvents[0]).toMatchObject({ kind: 'started', activityType: 'exportRows', attempt: 1 });
      expect(activityEvents.at(-1)).toMatchObject({ kind: 'completed', activityType: 'exportRows', attempt: 1 });
      const kinds = new Set(activityEvents.map((e) => e.kind));
      for (const kind of ['heartbeat', 'progress', 'milestone', 'stdout', 'stderr']) expect(kinds).toContain(kind);
      const output = activityEvents
        .filter((e) => e.kind === 'stdout')
        .map((e) => e.message)
        .join('');
      expect(output).toBe(Array.from({ length: 12 }, (_, i) => `row ${i}\n`).join(''));
      const progressEvents = activityEvents.filter((e) => e.kind === 'progress');
      expect(progressEvents.at(-1)).toMatchObject({
        message: '12/12 rows',
        data: { current: 12, total: 12, unit: 'rows' },
      });
      expect(activityEvents.filter((e) => e.kind === 'milestone').map((e) => e.data)).toEqual([
        { index: 1 },
        { index: 2 },
        { index: 3 },
      ]);
      // Workflow tasks: each started one completed.
      const workflowTasks = events.filter((e) => e.source === 'workflow' && e.kind !== 'milestone');
      expect(workflowTasks.filter((e) => e.kind === 'started').length).toBe(
        workflowTasks.filter((e) => e.kind === 'completed').length,
      );
      expect(workflowTasks.length).toBeGreaterThanOrEqual(4);

      // Resuming after any seq yields exactly the rest, also after the run closed.
      const resumed = await collect(handle.watchEvents({ after: 5 }));
      expect(resumed).toEqual(events.slice(5));
    });

    test('a failed attempt shows as retrying, then the next attempt starts and completes', async () => {
      const handle = await t.client.workflow.start(flakyWorkflow, {
        taskQueue,
        id: `flaky-${transport}`,
        args: [`flaky-${transport}`],
      });
      expect(await handle.result()).toBe('ok on attempt 2');
      const events = (await collect(handle.watchEvents())).filter((e) => e.source === 'activity');
      expect(events.map((e) => [e.kind, e.attempt])).toEqual([
        ['started', 1],
        ['retrying', 1],
        ['started', 2],
        ['completed', 2],
      ]);
      expect(events[1]!.message).toContain('first attempt fails');
      expect(events[1]!.data).toMatchObject({ nextAttempt: 2 });
    });

    test('cancellation reaches a heartbeating activity within its heartbeat interval', async () => {
      const key = `cancel-${transport}`;
      const handle = await t.client.workflow.start(cancelWaiter, { taskQueue, id: key, args: [key] });
      await waitFor(async () => (await handle.describe()).pendingActivities?.[0]?.attempt === 1);
      await new Promise((resolve) => setTimeout(resolve, 300));
      cancelRequestedAt.set(key, Date.now());
      await handle.cancel();
      await waitFor(() => cancelledAfterMs.has(key), { timeoutMs: 5000 });
      // heartbeatTimeout 2 s: the worker sends a heartbeat at least every second, and the answer carries the request.
      expect(cancelledAfterMs.get(key)).toBeLessThan(2000);
      // The attempt ends as cancelled, and watchers see it.
      await waitFor(async () =>
        (await t.connection.api.listTaskEvents('default', { workflowId: key })).events.some(
          (e) => e.source === 'activity' && e.kind === 'cancelled',
        ),
      );
      await handle.terminate('test done');
    });
  });

  describe('limits and bad input', () => {
    let t: TestTideway;
    const taskQueue = 'task-event-limits';

    beforeAll(async () => {
      t = await createTideway('http', { outputBudget: { bytesPerWindow: 3000, windowMs: 60_000 } });
      await t.startWorker({ taskQueue, workflows, activities });
    });
    afterAll(() => t?.teardown());

    test('output over the attempt budget is dropped, announced once, and the activity still completes', async () => {
      const handle = await t.client.workflow.start(chattyWorkflow, { taskQueue, id: 'chatty' });
      expect(await handle.result()).toBe('talked');
      const events = await collect(handle.watchEvents());
      const stored = events
        .filter((e) => e.kind === 'stdout')
        .reduce((sum, e) => sum + Buffer.byteLength(e.message ?? ''), 0);
      expect(stored).toBeLessThanOrEqual(3000);
      const notices = events.filter((e) => e.kind === 'stderr' && e.message?.includes('output is dropped'));
      expect(notices).toHaveLength(1);
      expect(events.at(-1)).toMatchObject({ kind: 'closed', data: { status: 'completed' } });
    });

    test('oversized chunks, stale tokens and malformed requests get clear 4xx errors', async () => {
      const api = t.connection.api;
      const base = t.server!.url;
      const post = (path: string, body: unknown) =>
        fetch(`${base}/api/v1/namespaces/default${path}`, {
          method: 'POST',
          headers: { 'content-type': 'application/json' },
          body: JSON.stringify(body),
        });

      const tooBig = await post('/activity-tasks/events', {
        taskToken: 'x',
        events: [{ kind: 'stdout', message: 'y'.repeat(70_000) }],
      });
      expect(tooBig.status).toBe(400);
      expect(((await tooBig.json()) as { error: { message: string } }).error.message).toMatch(
        /at most 65536 bytes; split large output/,
      );

      const badKind = await post('/activity-tasks/events', { taskToken: 'x', events: [{ kind: 'completed' }] });
      expect(badKind.status).toBe(400);

      const staleToken = Buffer.from(
        JSON.stringify({ kind: 'activity', namespace: 'default', runId: 'nope', scheduledEventId: 5, leaseId: 'gone' }),
      ).toString('base64url');
      await expect(
        api.recordActivityEvents('default', { taskToken: staleToken, events: [{ kind: 'stdout', message: 'hi' }] }),
      ).rejects.toMatchObject({ code: 'NotFound', message: expect.stringMatching(/no longer leased/) });
      await expect(api.heartbeatActivityTask('default', { taskToken: staleToken })).rejects.toMatchObject({
        code: 'NotFound',
      });
      await expect(
        api.recordActivityEvents('default', { taskToken: 'not-a-token', events: [{ kind: 'stdout', message: 'hi' }] }),
      ).rejects.toMatchObject({ code: 'InvalidArgument', message: expect.stringMatching(/malformed task token/) });

      const unknown = await fetch(`${base}/api/v1/namespaces/default/workflows/no-such-workflow/events/stream`);
      expect(unknown.status).toBe(404);
      const badResume = await fetch(`${base}/api/v1/namespaces/default/workflows/chatty/events/stream`, {
        headers: { 'last-event-id': 'abc' },
      });
      expect(badResume.status).toBe(400);
      expect(((await badResume.json()) as { error: { message: string } }).error.message).toMatch(
        /Last-Event-ID must be a seq number/,
      );
    });

    test('the SSE stream carries seq ids and resumes after Last-Event-ID', async () => {
      const handle = await t.client.workflow.start(flakyWorkflow, {
        taskQueue,
        id: 'sse-raw',
        args: ['sse-raw'],
      });
      await handle.result();
      const all = await collect(handle.watchEvents());
      const response = await fetch(`${t.server!.url}/api/v1/namespaces/default/workflows/sse-raw/events/stream`, {
        headers: { 'last-event-id': '3' },
      });
      expect(response.headers.get('content-type')).toMatch(/text\/event-stream/);
      const text = await response.text();
      const ids = [...text.matchAll(/^id: (\d+)$/gm)].map((m) => Number(m[1]));
      expect(ids).toEqual(all.slice(3).map((e) => e.seq));
      expect(text).toMatch(/event: done\n/);
    });

    test('an activity cannot write an oversized chunk: the call throws and says what to do', async () => {
      const handle = await t.client.workflow.start(oversizedWorkflow, { taskQueue, id: 'oversized' });
      expect(await handle.result()).toMatch(
        /stdout chunk is 70000 bytes, over the 65536-byte limit; write it in smaller chunks/,
      );
      expect(() => stdout('x')).toThrow(/only be called from activity code/);
    });
  });

  describe('retention', () => {
    test('events older than the retention period are deleted; the stream of the closed run then ends empty', async () => {
      const t = await createTideway('in-process', { taskEventRetention: '1h' });
      try {
        await t.startWorker({ taskQueue: 'retention', workflows, activities });
        const handle = await t.client.workflow.start(flakyWorkflow, {
          taskQueue: 'retention',
          id: 'retained',
          args: ['retained'],
        });
        await handle.result();
        expect((await collect(handle.watchEvents())).length).toBeGreaterThan(4);
        expect(await t.env.engine.taskEventRetention.sweep()).toBe(0);
        t.skipTime('2h');
        expect(await t.env.engine.taskEventRetention.sweep()).toBeGreaterThan(4);
        expect(await collect(handle.watchEvents())).toEqual([]);
      } finally {
        await t.teardown();
      }
    });
  });
});
