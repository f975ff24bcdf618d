import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import type { Connection } from '../src/client/index.js';
import type { TidewayApi } from '../src/protocol/index.js';
import { Worker, type WorkerOptions } from '../src/worker/index.js';
import { executeActivity } from '../src/workflow/index.js';
import { addOneActivities, fiveSteps } from './fixtures/five-steps.js';
import { skipBackend } from './support/backend.js';
import { createTideway, type TestTideway } from './support/env.js';

const activities = addOneActivities;

/** The same steps, on another task queue: only that queue's worker may run them. */
async function elsewhere(start: number): Promise<number> {
  return executeActivity(activities.addOne, [start], { startToCloseTimeout: '10s', taskQueue: 'eager-other' });
}

/** Counts how tasks reached the worker: from polls, or handed back by completions. */
function countingConnection(api: TidewayApi) {
  const counts = { polledActivities: 0, eagerActivities: 0, polledWorkflowTasks: 0, eagerWorkflowTasks: 0 };
  const counted: TidewayApi = Object.create(api);
  counted.pollActivityTask = async (ns, request, signal) => {
    const polled = await api.pollActivityTask(ns, request, signal);
    if (polled.task) counts.polledActivities += 1 + (polled.moreTasks?.length ?? 0);
    return polled;
  };
  counted.pollWorkflowTask = async (ns, request, signal) => {
    const polled = await api.pollWorkflowTask(ns, request, signal);
    if (polled.task && !polled.task.query) counts.polledWorkflowTasks += 1 + (polled.moreTasks?.length ?? 0);
    return polled;
  };
  counted.completeWorkflowTask = async (ns, request) => {
    const response = await api.completeWorkflowTask(ns, request);
    counts.eagerActivities += response?.activityTasks?.length ?? 0;
    return response;
  };
  counted.completeActivityTask = async (ns, request) => {
    const response = await api.completeActivityTask(ns, request);
    if (response?.workflowTask) counts.eagerWorkflowTasks++;
    return response;
  };
  const connection: Connection = { api: counted, target: 'counting' };
  return { connection, counts };
}

const quiet = { debug() {}, info() {}, warn() {}, error: console.error };
const createWorker = (options: WorkerOptions) => Worker.create({ handleSignals: false, logger: quiet, ...options });

const skip = await skipBackend();

describe.skipIf(skip)('eager dispatch', () => {
  let t: TestTideway;
  beforeAll(async () => {
    t = await createTideway('in-process');
  });
  afterAll(() => t?.teardown());

  test('a worker running both sides gets each activity and each next workflow task from the completions', async () => {
    const { connection, counts } = countingConnection(t.connection.api);
    // Without the cache: a cached run's next task is run ahead with the result instead (run-ahead.test.ts).
    const worker = await createWorker({
      connection,
      taskQueue: 'eager',
      workflows: { fiveSteps },
      activities,
      maxCachedWorkflows: 0,
    });
    const running = worker.run();
    try {
      const handle = await t.client.workflow.start(fiveSteps, { taskQueue: 'eager', id: 'eager-1', args: [10] });
      expect(await handle.result()).toBe(15);
      // The first workflow task comes from a poll; after that every task rides on a completion.
      expect(counts).toEqual({
        polledActivities: 0,
        eagerActivities: 5,
        polledWorkflowTasks: 1,
        eagerWorkflowTasks: 5,
      });
      // History and task events look exactly as with the queue.
      const history = await handle.fetchHistory();
      expect(history.filter((e) => e.type === 'ActivityTaskCompleted')).toHaveLength(5);
      const events = (await t.connection.api.listTaskEvents('default', { workflowId: 'eager-1' })).events;
      expect(events.filter((e) => e.source === 'activity' && e.kind === 'started')).toHaveLength(5);
      expect(events.filter((e) => e.source === 'workflow' && e.kind === 'started')).toHaveLength(6);
    } finally {
      await worker.shutdown();
      await running;
    }
  });

  test('with eagerDispatch off, every task goes through the queue', async () => {
    const { connection, counts } = countingConnection(t.connection.api);
    const worker = await createWorker({
      connection,
      taskQueue: 'eager-off',
      workflows: { fiveSteps },
      activities,
      eagerDispatch: false,
    });
    const running = worker.run();
    try {
      const handle = await t.client.workflow.start(fiveSteps, { taskQueue: 'eager-off', id: 'eager-off', args: [0] });
      expect(await handle.result()).toBe(5);
      expect(counts).toEqual({
        polledActivities: 5,
        eagerActivities: 0,
        polledWorkflowTasks: 6,
        eagerWorkflowTasks: 0,
      });
    } finally {
      await worker.shutdown();
      await running;
    }
  });

  test('activities on another queue, or of types the worker lacks, are left to the queue', async () => {
    const main = countingConnection(t.connection.api);
    const other = countingConnection(t.connection.api);
    const workflowWorker = await createWorker({
      connection: main.connection,
      taskQueue: 'eager-main',
      workflows: { elsewhere, fiveSteps },
      activities: { unrelated: async () => 0 },
    });
    const activityWorker = await createWorker({
      connection: other.connection,
      taskQueue: 'eager-other',
      activities,
    });
    const runs = [workflowWorker.run(), activityWorker.run()];
    try {
      const handle = await t.client.workflow.start(elsewhere, { taskQueue: 'eager-main', id: 'eager-x', args: [1] });
      expect(await handle.result()).toBe(2);
      expect(main.counts.eagerActivities).toBe(0);
      expect(other.counts).toMatchObject({ polledActivities: 1, eagerActivities: 0, eagerWorkflowTasks: 0 });
      // addOne is not registered on the workflow worker: scheduled on its queue, it waits for a worker that has it.
      const stuck = await t.client.workflow.start(fiveSteps, { taskQueue: 'eager-main', id: 'eager-y', args: [1] });
      await expect.poll(async () => (await stuck.describe()).pendingActivities?.[0]?.state).toBe('scheduled');
      expect(main.counts.eagerActivities).toBe(0);
      await stuck.terminate('test done');
    } finally {
      await Promise.all([workflowWorker.shutdown(), activityWorker.shutdown()]);
      await Promise.all(runs);
    }
  });
});
