import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import type { Engine } from '../src/engine/index.js';
import { toPayload } from '../src/protocol/index.js';
import { skipBackend } from './support/backend.js';
import { type CallCounter, countTransitions } from './support/counters.js';
import { createTideway, type TestTideway } from './support/env.js';

// Starts of new workflow ids made at once share transactions (src/engine/fresh-starts.ts); a batch
// that cannot go through whole is retried start by start, so each start meets its own outcome.

const skip = await skipBackend();

describe.skipIf(skip)('starts made at once', () => {
  let t: TestTideway;
  let engine: Engine;
  let transitions: CallCounter;
  beforeAll(async () => {
    t = await createTideway('in-process', { replayCheck: false });
    engine = t.env.engine;
    transitions = countTransitions(engine);
  });
  afterAll(() => t?.teardown());

  const start = (workflowId: string, extra: Record<string, unknown> = {}) =>
    engine.startWorkflow('default', {
      workflowId,
      workflowType: 'manual',
      taskQueue: 'batches',
      args: [toPayload(workflowId)],
      ...extra,
    });

  test('share a few transactions, and each run is whole: its input, history and first task', async () => {
    const ids = Array.from({ length: 300 }, (_, i) => `batch-${i}`);
    transitions.count = 0;
    const started = await Promise.all(ids.map((id) => start(id)));
    expect(transitions.count).toBeLessThanOrEqual(10);
    expect(new Set(started.map((s) => s.runId)).size).toBe(300);
    expect(started.every((s, i) => s.started && s.workflowId === ids[i])).toBe(true);
    for (const i of [0, 150, 299]) {
      const history = await engine.getWorkflowHistory('default', { workflowId: ids[i]! });
      expect(history.runId).toBe(started[i]!.runId);
      expect(history.events.map((e) => e.type)).toEqual(['WorkflowExecutionStarted', 'WorkflowTaskScheduled']);
      expect(history.events[0]).toMatchObject({ attributes: { input: [toPayload(ids[i])] } });
    }
    // Every first task is in the queue once.
    const claimed = new Set<string>();
    for (;;) {
      const polled = await engine.pollWorkflowTask('default', {
        taskQueue: 'batches',
        types: ['manual'],
        waitMs: 0,
        maxTasks: 100,
      });
      const tasks = polled.task ? [polled.task, ...(polled.moreTasks ?? [])] : [];
      if (tasks.length === 0) break;
      for (const task of tasks) claimed.add(task.runId);
    }
    expect(claimed).toEqual(new Set(started.map((s) => s.runId)));
  });

  test('an id that has runs, or the same id twice, fails alone: the other starts of its batch go through', async () => {
    await start('batch-taken');
    const outcomes = await Promise.allSettled([
      start('batch-a'),
      start('batch-taken'),
      start('batch-b'),
      start('batch-twice'),
      start('batch-twice'),
      start('batch-c'),
    ]);
    const fulfilled = (i: number) => outcomes[i]!.status === 'fulfilled';
    expect([0, 2, 5].every(fulfilled)).toBe(true);
    expect(outcomes[1]).toMatchObject({ status: 'rejected', reason: { code: 'WorkflowAlreadyStarted' } });
    // Of two starts of one new id, one started it and the other was told it is running.
    expect(outcomes.slice(3, 5).filter((o) => o.status === 'fulfilled')).toHaveLength(1);
    expect(outcomes.slice(3, 5).find((o) => o.status === 'rejected')).toMatchObject({
      reason: { code: 'WorkflowAlreadyStarted' },
    });
    for (const id of ['batch-a', 'batch-b', 'batch-c', 'batch-twice']) {
      expect((await engine.describeWorkflow('default', { workflowId: id })).status).toBe('running');
    }
  });

  test('a start retried with its request id in the same batch returns the run the first one created', async () => {
    const [first, retried] = await Promise.all([
      start('batch-retried', { requestId: 'req-1' }),
      start('batch-retried', { requestId: 'req-1' }),
    ]);
    expect(retried.runId).toBe(first.runId);
    expect([first.started, retried.started].sort()).toEqual([false, true]);
  });
});
