// Timers falling due together: the timer service fires them in batches
// (several per transaction), so these check what a batch must still
// guarantee: every timer fires once and never early, timers of one run are
// delivered in the order they were started, and a run another transaction
// holds gets its timers as soon as it is free.
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { sleep } from '../src/workflow/index.js';
import { BACKEND, skipBackend } from './support/backend.js';
import { createTideway, type TestTideway } from './support/env.js';
import { waitFor } from './support/wait.js';

async function sleepsOnce(): Promise<string> {
  await sleep('1h');
  return 'woke';
}

async function sleepsTwice(): Promise<string[]> {
  const order: string[] = [];
  await Promise.all([sleep('1h').then(() => order.push('first')), sleep('1h').then(() => order.push('second'))]);
  return order;
}

describe('timers falling due together', () => {
  let t: TestTideway;
  let skip = false;
  const taskQueue = 'timer-bursts';

  beforeAll(async () => {
    skip = await skipBackend();
    if (skip) return;
    t = await createTideway();
    await t.startWorker({ taskQueue, workflows: { sleepsOnce, sleepsTwice }, maxConcurrentWorkflowTasks: 20 });
  });
  afterAll(async () => {
    await t?.teardown();
  });

  test('more timers than one batch holds all fire, each once and none early', async (ctx) => {
    if (skip) ctx.skip();
    const handles = await Promise.all(
      Array.from({ length: 150 }, (_, i) => t.client.workflow.start(sleepsOnce, { id: `burst-${i}`, taskQueue })),
    );
    // Every run has recorded its timer before time moves, so all 150 fall due at the same moment.
    await waitFor(
      async () => {
        const histories = await Promise.all(handles.map((h) => h.fetchHistory()));
        return histories.every((events) => events.some((e) => e.type === 'TimerStarted'));
      },
      { timeoutMs: 30_000 },
    );
    t.skipTime('1h');
    expect(await Promise.all(handles.map((h) => h.result()))).toEqual(handles.map(() => 'woke'));
    for (const handle of handles) {
      const history = await handle.fetchHistory();
      const started = history.filter((e) => e.type === 'TimerStarted');
      const fired = history.filter((e) => e.type === 'TimerFired');
      expect(fired).toHaveLength(1);
      if (started[0]?.type !== 'TimerStarted') throw new Error('no TimerStarted');
      expect(fired[0]!.timestamp).toBeGreaterThanOrEqual(started[0].attributes.fireAt);
    }
  }, 60_000);

  test("one run's timers due together are delivered in one task, in the order they were started", async (ctx) => {
    if (skip) ctx.skip();
    const handle = await t.client.workflow.start(sleepsTwice, { id: 'two-timers', taskQueue });
    await waitFor(async () => (await handle.fetchHistory()).filter((e) => e.type === 'TimerStarted').length === 2);
    t.skipTime('1h');
    expect(await handle.result()).toEqual(['first', 'second']);
    const history = await handle.fetchHistory();
    const startedIds = history.filter((e) => e.type === 'TimerStarted').map((e) => e.eventId);
    const fired = history.filter((e) => e.type === 'TimerFired');
    expect(fired.map((e) => (e.type === 'TimerFired' ? e.attributes.startedEventId : 0))).toEqual(startedIds);
    // Consecutive events, followed by the one workflow task that delivers both.
    expect(fired[1]!.eventId).toBe(fired[0]!.eventId + 1);
    expect(history.find((e) => e.eventId === fired[1]!.eventId + 1)?.type).toBe('WorkflowTaskScheduled');
  });

  test.skipIf(BACKEND !== 'postgres')(
    'a timer whose run another transaction holds fires as soon as the run is free',
    async (ctx) => {
      if (skip) ctx.skip();
      const handle = await t.client.workflow.start(sleepsOnce, { id: 'held-run', taskQueue });
      await waitFor(async () => (await handle.fetchHistory()).some((e) => e.type === 'TimerStarted'));
      const { runId } = await handle.describe();
      const holder = new pg.Client({ connectionString: t.databaseUrl });
      await holder.connect();
      try {
        await holder.query('BEGIN');
        await holder.query('SELECT 1 FROM runs WHERE run_id = $1 FOR UPDATE', [runId]);
        t.skipTime('1h');
        await new Promise((resolve) => setTimeout(resolve, 300));
        expect((await handle.fetchHistory()).some((e) => e.type === 'TimerFired')).toBe(false);
        await holder.query('COMMIT');
        expect(await handle.result()).toBe('woke');
      } finally {
        await holder.end();
      }
      expect((await handle.fetchHistory()).filter((e) => e.type === 'TimerFired')).toHaveLength(1);
    },
  );
});
