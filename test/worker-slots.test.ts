import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { activityInfo, cancellationSignal, heartbeat } from '../src/activity/index.js';
import { executeActivity } from '../src/workflow/index.js';
import { skipBackend } from './support/backend.js';
import { createTideway, type TestTideway } from './support/env.js';
import { waitFor } from './support/wait.js';

let running = 0;
let mostAtOnce = 0;
const shutdownSeen: string[] = [];
const infos: ReturnType<typeof activityInfo>[] = [];

const activities = {
  async busy(ms: number): Promise<number> {
    running++;
    mostAtOnce = Math.max(mostAtOnce, running);
    infos.push(activityInfo());
    await new Promise((resolve) => setTimeout(resolve, ms));
    running--;
    return ms;
  },
  /** Heartbeats 1, 2, 3 within one throttle window and fails; the retry reports where it resumed. */
  async failsAfterHeartbeats(): Promise<unknown> {
    const { attempt, heartbeatDetails } = activityInfo();
    if (attempt > 1) return heartbeatDetails;
    for (let i = 1; i <= 3; i++) await heartbeat(i);
    throw new Error('crashed after row 3');
  },
  /** Works until its attempt is told to stop; the first attempt stops, the retry finishes at once. */
  async untilStopped(key: string): Promise<string> {
    const { attempt } = activityInfo();
    if (attempt > 1) return `finished on attempt ${attempt}`;
    const signal = cancellationSignal();
    await new Promise<void>((resolve) => signal.addEventListener('abort', () => resolve(), { once: true }));
    shutdownSeen.push(`${key}: ${(signal.reason as Error).name}: ${(signal.reason as Error).message}`);
    throw signal.reason;
  },
};

async function oneBusy(ms: number): Promise<number> {
  return executeActivity(activities.busy, [ms], { startToCloseTimeout: '10s' });
}

async function stoppable(key: string): Promise<string> {
  return executeActivity(activities.untilStopped, [key], {
    startToCloseTimeout: '1m',
    retry: { initialInterval: '10ms' },
  });
}

async function resumesFromLatest(): Promise<unknown> {
  return executeActivity(activities.failsAfterHeartbeats, [], {
    startToCloseTimeout: '1m',
    heartbeatTimeout: '1m',
    retry: { initialInterval: '10ms' },
  });
}

const workflows = { oneBusy, stoppable, resumesFromLatest };
const skip = await skipBackend();

describe.skipIf(skip)('worker slots and shutdown', () => {
  let t: TestTideway;
  beforeAll(async () => {
    t = await createTideway('in-process');
  });
  afterAll(() => t?.teardown());

  test('maxConcurrentActivityTasks bounds how many activities run at once; activityInfo describes each', async () => {
    const worker = await t.startWorker({ taskQueue: 'slots', workflows, activities, maxConcurrentActivityTasks: 2 });
    const handles = await Promise.all(
      Array.from({ length: 6 }, (_, i) =>
        t.client.workflow.start(oneBusy, { taskQueue: 'slots', id: `busy-${i}`, args: [150] }),
      ),
    );
    expect(await Promise.all(handles.map((h) => h.result()))).toEqual([150, 150, 150, 150, 150, 150]);
    expect(mostAtOnce).toBe(2);
    const info = infos.find((i) => i.workflowId === 'busy-0')!;
    expect(info).toMatchObject({
      activityType: 'busy',
      taskQueue: 'slots',
      attempt: 1,
      namespace: 'default',
      workflowType: 'oneBusy',
    });
    expect(info.runId).toBe((await handles[0]!.describe()).runId);
    expect(info.deadline).toBeGreaterThan(info.startedTime);
    expect(typeof info.taskToken).toBe('string');
    await worker.shutdown();
  });

  test('shutdown lets running activities finish within the grace time', async () => {
    const worker = await t.startWorker({ taskQueue: 'graceful', workflows, activities, shutdownGraceTime: '5s' });
    const handle = await t.client.workflow.start(oneBusy, { taskQueue: 'graceful', id: 'graceful', args: [400] });
    await waitFor(() => running > 0);
    const stopping = worker.shutdown();
    expect(worker.isRunning).toBe(false);
    await stopping;
    // The activity finished and reported before shutdown resolved; a new worker only has to finish the workflow.
    expect(running).toBe(0);
    const history = await handle.fetchHistory();
    expect(history.filter((e) => e.type === 'ActivityTaskCompleted')).toHaveLength(1);
    await t.startWorker({ taskQueue: 'graceful', workflows, activities });
    expect(await handle.result()).toBe(400);
  });

  test('past the grace time, shutdown cancels running activities; the attempt is retried elsewhere', async () => {
    const worker = await t.startWorker({ taskQueue: 'impatient', workflows, activities, shutdownGraceTime: '200ms' });
    const handle = await t.client.workflow.start(stoppable, { taskQueue: 'impatient', id: 'impatient', args: ['a'] });
    await waitFor(async () => (await handle.describe()).pendingActivities?.[0]?.state === 'started');
    const began = Date.now();
    await worker.shutdown();
    expect(Date.now() - began).toBeLessThan(3000);
    expect(shutdownSeen).toEqual(['a: CancelledFailure: worker is shutting down']);
    await t.startWorker({ taskQueue: 'impatient', workflows, activities });
    expect(await handle.result()).toBe('finished on attempt 2');
  });

  test('a failing attempt sends its throttled heartbeat details first, so the retry resumes from the latest', async () => {
    await t.startWorker({ taskQueue: 'resume', workflows, activities });
    // heartbeatTimeout 1m: heartbeats go out at most every 30 s, so 2 and 3 are still waiting when the attempt fails.
    const handle = await t.client.workflow.start(resumesFromLatest, { taskQueue: 'resume', id: 'resume-latest' });
    expect(await handle.result()).toBe(3);
  });
});
