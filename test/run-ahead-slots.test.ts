import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import type { Connection } from '../src/client/index.js';
import type { TidewayApi } from '../src/protocol/index.js';
import { executeActivity } from '../src/workflow/index.js';
import { skipBackend } from './support/backend.js';
import { createTideway, type TestTideway } from './support/env.js';

/*
 * In a burst, every workflow slot of a worker is busy, mostly with new runs'
 * first tasks. An activity result still waits for one, ahead of the poll
 * loop, so the workflow runs on with it and both are reported together (one
 * transition); before, it found no free slot and went alone, and the run's
 * next task took the queue.
 */

const activities = {
  async pause(n: number): Promise<number> {
    await new Promise((resolve) => setTimeout(resolve, 5));
    return n + 1;
  },
};

async function oneStep(n: number): Promise<number> {
  return executeActivity(activities.pause, [n], { startToCloseTimeout: '30s' });
}

/** The in-process API, counting activity results sent with the next decision and without. */
function counting(api: TidewayApi, counts: { ahead: number; alone: number }): TidewayApi {
  return new Proxy(api, {
    get(target, prop, receiver) {
      const value = Reflect.get(target, prop, receiver);
      if (prop !== 'completeActivityTask' || typeof value !== 'function') return value;
      return (namespace: string, request: { nextWorkflowTask?: unknown }) => {
        if (request.nextWorkflowTask) counts.ahead++;
        else counts.alone++;
        return value.call(target, namespace, request);
      };
    },
  });
}

const skip = await skipBackend();

describe.skipIf(skip)('activity results in a burst', () => {
  let t: TestTideway;
  beforeAll(async () => {
    t = await createTideway('in-process');
  });
  afterAll(() => t?.teardown());

  test('wait for a busy workflow slot and carry the next decision, instead of leaving it to the queue', async () => {
    const counts = { ahead: 0, alone: 0 };
    const connection: Connection = { ...t.connection, api: counting(t.connection.api, counts) };
    await t.startWorker({
      taskQueue: 'burst-slots',
      workflows: { oneStep },
      activities,
      connection,
      maxConcurrentWorkflowTasks: 2,
      maxConcurrentActivityTasks: 20,
    });
    const n = 40;
    const results = await Promise.all(
      Array.from({ length: n }, (_, i) =>
        t.client.workflow.execute(oneStep, { id: `burst-slots-${i}`, taskQueue: 'burst-slots', args: [i] }),
      ),
    );
    expect(results).toEqual(Array.from({ length: n }, (_, i) => i + 1));
    expect(counts.ahead + counts.alone).toBe(n);
    // A result waits at most 100 ms for a slot; a machine slow enough to exceed that sends a few alone.
    expect(counts.ahead).toBeGreaterThanOrEqual(n * 0.9);
  });
});
