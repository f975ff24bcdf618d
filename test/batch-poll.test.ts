import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import type { Connection } from '../src/client/index.js';
import type { TidewayApi } from '../src/protocol/index.js';
import { Worker } from '../src/worker/index.js';
import { proxyActivities } from '../src/workflow/index.js';
import { skipBackend } from './support/backend.js';
import { createTideway, type TestTideway } from './support/env.js';

// A poll may lease several tasks at once (`maxTasks`): one transaction for a
// batch instead of one per task, so a worker drains a backlog faster.

const activities = {
  async double(n: number): Promise<number> {
    return n * 2;
  },
};
const { double } = proxyActivities<typeof activities>({ startToCloseTimeout: '10s' });

async function doubler(n: number): Promise<number> {
  return await double(n);
}

/**
 * Counts the tasks each poll response carried, and the most workflow tasks
 * leased to the worker and not yet reported at any moment (polled or handed
 * back by activity completions, minus completions and failures).
 */
function countingConnection(connection: Connection) {
  const api = connection.api;
  const batches: number[] = [];
  let outstanding = 0;
  const seen = { maxOutstanding: 0 };
  const lease = (n: number) => {
    outstanding += n;
    seen.maxOutstanding = Math.max(seen.maxOutstanding, outstanding);
  };
  const counted: TidewayApi = Object.create(api);
  counted.pollWorkflowTask = async (ns, request, signal) => {
    const polled = await api.pollWorkflowTask(ns, request, signal);
    if (polled.task) {
      batches.push(1 + (polled.moreTasks?.length ?? 0));
      lease(1 + (polled.moreTasks?.length ?? 0));
    }
    return polled;
  };
  counted.completeActivityTask = async (ns, request) => {
    const response = await api.completeActivityTask(ns, request);
    if (response.workflowTask) lease(1);
    return response;
  };
  counted.completeWorkflowTask = async (ns, request) => {
    outstanding--;
    return api.completeWorkflowTask(ns, request);
  };
  counted.failWorkflowTask = async (ns, request) => {
    outstanding--;
    return api.failWorkflowTask(ns, request);
  };
  return { connection: { ...connection, api: counted }, batches, seen };
}

describe.each(['in-process', 'http'] as const)('batch polls (%s)', (transport) => {
  let t: TestTideway;
  let skip = false;
  beforeAll(async () => {
    skip = await skipBackend();
    if (!skip) t = await createTideway(transport);
  });
  afterAll(async () => {
    await t?.teardown();
  });

  test('one poll leases up to maxTasks workflow tasks, oldest first; each is completed on its own', async (ctx) => {
    if (skip) ctx.skip();
    const api = t.connection.api;
    const queue = `batch-${transport}`;
    for (let i = 0; i < 5; i++) {
      await api.startWorkflow('default', { workflowId: `${queue}-${i}`, workflowType: 'manual', taskQueue: queue });
    }
    const first = await api.pollWorkflowTask('default', { taskQueue: queue, types: ['manual'], maxTasks: 3 });
    const leased = [first.task!, ...(first.moreTasks ?? [])];
    expect(leased.map((task) => task.workflowId)).toEqual([`${queue}-0`, `${queue}-1`, `${queue}-2`]);
    for (const task of leased) {
      await api.completeWorkflowTask('default', {
        taskToken: task.taskToken,
        commands: [{ type: 'CompleteWorkflow', result: { encoding: 'json/plain', data: task.workflowId } }],
      });
    }
    const rest = await api.pollWorkflowTask('default', { taskQueue: queue, types: ['manual'], maxTasks: 10 });
    expect([rest.task!, ...(rest.moreTasks ?? [])].map((task) => task.workflowId)).toEqual([
      `${queue}-3`,
      `${queue}-4`,
    ]);
    // Without maxTasks a poll carries one task, as before.
    await api.startWorkflow('default', { workflowId: `${queue}-5`, workflowType: 'manual', taskQueue: queue });
    await api.startWorkflow('default', { workflowId: `${queue}-6`, workflowType: 'manual', taskQueue: queue });
    const single = await api.pollWorkflowTask('default', { taskQueue: queue, types: ['manual'], waitMs: 0 });
    expect(single.task?.workflowId).toBe(`${queue}-5`);
    expect(single.moreTasks).toBeUndefined();
    const description = await api.describeWorkflow('default', { workflowId: `${queue}-1` });
    expect(description.status).toBe('completed');
  });

  test('a worker started on a backlog takes it in batches and runs every workflow once', async (ctx) => {
    if (skip) ctx.skip();
    const queue = `backlog-${transport}`;
    const handles = [];
    for (let i = 0; i < 40; i++) {
      handles.push(await t.client.workflow.start(doubler, { id: `${queue}-${i}`, taskQueue: queue, args: [i] }));
    }
    const counting = countingConnection(t.connection);
    const worker = await Worker.create({
      connection: counting.connection,
      taskQueue: queue,
      workflows: { doubler },
      activities,
      maxConcurrentWorkflowTasks: 8,
      handleSignals: false,
      logger: { debug() {}, info() {}, warn() {}, error() {} },
    });
    const running = worker.run();
    const results = await Promise.all(handles.map((h) => h.result()));
    expect(results).toEqual(Array.from({ length: 40 }, (_, i) => i * 2));
    // The backlog came in batches: fewer polls than tasks, none over the worker's free slots.
    expect(Math.max(...counting.batches)).toBeGreaterThan(1);
    expect(Math.max(...counting.batches)).toBeLessThanOrEqual(8);
    // Never more workflow tasks leased to the worker than it has slots: none waits with its lease running.
    expect(counting.seen.maxOutstanding).toBeLessThanOrEqual(8);
    for (const h of handles.slice(0, 5)) {
      const history = await h.fetchHistory();
      expect(history.filter((e) => e.type === 'ActivityTaskScheduled')).toHaveLength(1);
    }
    await worker.shutdown();
    await running;
  });
});
