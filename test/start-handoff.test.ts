import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import type { Engine } from '../src/engine/index.js';
import { toPayload } from '../src/protocol/index.js';
import { skipBackend } from './support/backend.js';
import { createTideway, type TestTideway } from './support/env.js';
import { waitFor } from './support/wait.js';

// A start hands its new run's first workflow task to a poll waiting in the same engine (see
// src/engine/waiting-polls.ts): leased in the start's own transaction, no claim, no trip through the queue.

const skip = await skipBackend();

describe.skipIf(skip)('a start hands its first task to a waiting poll', () => {
  let t: TestTideway;
  let engine: Engine;
  beforeAll(async () => {
    t = await createTideway('in-process', { replayCheck: false });
    engine = t.env.engine;
  });
  afterAll(() => t?.teardown());

  /** A poll of the queue, once it is waiting in the engine. */
  async function waitingPoll(taskQueue: string, types: string[], signal?: AbortSignal, maxHandoffs?: number) {
    const before = engine.ctx.waitingPolls.size;
    const polled = engine.pollWorkflowTask(
      'default',
      { taskQueue, types, waitMs: 10_000, ...(maxHandoffs ? { maxHandoffs } : {}) },
      signal,
    );
    await waitFor(() => engine.ctx.waitingPolls.size > before, { what: 'the poll to wait' });
    return { polled };
  }

  test('the waiting poll gets the task: the history as read, leased, and the run goes on from it', async () => {
    const { polled } = await waitingPoll('handoff', ['manual']);
    const handedBefore = engine.ctx.waitingPolls.handedOff;
    const { runId } = await engine.startWorkflow('default', {
      workflowId: 'handoff-1',
      workflowType: 'manual',
      taskQueue: 'handoff',
      args: [toPayload(7)],
    });
    const { task } = await polled;
    expect(task).toMatchObject({
      runId,
      workflowId: 'handoff-1',
      attempt: 1,
      previousSeenUpToEventId: 0,
      lastEventId: 2,
      eventsComplete: true,
    });
    expect(engine.ctx.waitingPolls.handedOff).toBe(handedBefore + 1);
    const history = await engine.getWorkflowHistory('default', { workflowId: 'handoff-1' });
    expect(task!.events).toEqual(history.events);
    // Leased: not in the queue for anyone else, and shown as started.
    expect(
      (await engine.pollWorkflowTask('default', { taskQueue: 'handoff', types: ['manual'], waitMs: 0 })).task,
    ).toBe(null);
    const described = await engine.describeWorkflow('default', { workflowId: 'handoff-1' });
    expect(described.pendingWorkflowTask).toMatchObject({ state: 'started', attempt: 1 });
    const events = await engine.listTaskEvents('default', { workflowId: 'handoff-1' });
    expect(events.events.filter((e) => e.source === 'workflow').map((e) => e.kind)).toEqual(['started']);

    await engine.completeWorkflowTask('default', {
      taskToken: task!.taskToken,
      commands: [{ type: 'CompleteWorkflow', result: toPayload('done') }],
    });
    expect(await engine.getWorkflowResult('default', { workflowId: 'handoff-1', runId })).toMatchObject({
      status: 'completed',
      result: toPayload('done'),
    });
  });

  test('starts made together reach one idle poll in one answer, up to its maxHandoffs; the rest wait in the queue', async () => {
    const { polled } = await waitingPoll('handoff-burst', ['manual'], undefined, 3);
    const started = await Promise.all(
      [1, 2, 3, 4].map((i) =>
        engine.startWorkflow('default', {
          workflowId: `handoff-burst-${i}`,
          workflowType: 'manual',
          taskQueue: 'handoff-burst',
        }),
      ),
    );
    const answer = await polled;
    const handed = [answer.task, ...(answer.moreTasks ?? [])];
    expect(handed.map((task) => task?.runId).sort()).toEqual(
      started
        .slice(0, 3)
        .map((s) => s.runId)
        .sort(),
    );
    for (const task of handed) expect(task).toMatchObject({ attempt: 1, lastEventId: 2, eventsComplete: true });
    // The fourth went to the queue, unleased, for the next poll.
    const next = await engine.pollWorkflowTask('default', { taskQueue: 'handoff-burst', types: ['manual'], waitMs: 0 });
    expect(next.task?.runId).toBe(started[3]!.runId);
    expect(next.moreTasks ?? []).toEqual([]);
    // Each handed task is leased and completes.
    for (const task of handed) {
      await engine.completeWorkflowTask('default', {
        taskToken: task!.taskToken,
        commands: [{ type: 'CompleteWorkflow', result: toPayload(task!.workflowId) }],
      });
    }
    const results = await Promise.all(
      started.slice(0, 3).map((s) => engine.getWorkflowResult('default', { workflowId: s.workflowId, runId: s.runId })),
    );
    expect(results.map((r) => r.status)).toEqual(['completed', 'completed', 'completed']);
  });

  test('a poll for other workflow types is left waiting; the task goes to the queue', async () => {
    // A worker of 'manual' was seen on the queue (a start names only registered types).
    await engine.pollWorkflowTask('default', {
      taskQueue: 'handoff-types',
      types: ['manual'],
      identity: 'manual-worker',
      waitMs: 0,
    });
    const controller = new AbortController();
    const { polled: other } = await waitingPoll('handoff-types', ['other'], controller.signal);
    await engine.startWorkflow('default', {
      workflowId: 'handoff-2',
      workflowType: 'manual',
      taskQueue: 'handoff-types',
    });
    const claimed = await engine.pollWorkflowTask('default', {
      taskQueue: 'handoff-types',
      types: ['manual'],
      waitMs: 1000,
    });
    expect(claimed.task?.workflowId).toBe('handoff-2');
    controller.abort();
    expect((await other).task).toBe(null);
  });

  test('a start that fails hands nothing: the poll it took waits on and gets the next start', async () => {
    await engine.startWorkflow('default', {
      workflowId: 'handoff-dup',
      workflowType: 'manual',
      taskQueue: 'handoff-x',
    });
    const { polled } = await waitingPoll('handoff-dup', ['manual']);
    await expect(
      engine.startWorkflow('default', { workflowId: 'handoff-dup', workflowType: 'manual', taskQueue: 'handoff-dup' }),
    ).rejects.toMatchObject({ code: 'WorkflowAlreadyStarted' });
    expect(engine.ctx.waitingPolls.size).toBeGreaterThan(0);
    const { runId } = await engine.startWorkflow('default', {
      workflowId: 'handoff-3',
      workflowType: 'manual',
      taskQueue: 'handoff-dup',
    });
    expect((await polled).task?.runId).toBe(runId);
  });

  test('a start with an id that has runs (its reuse policy decides) hands its task over too', async () => {
    const first = await engine.startWorkflow('default', {
      workflowId: 'handoff-reuse',
      workflowType: 'manual',
      taskQueue: 'handoff-reuse',
    });
    await engine.terminateWorkflow('default', { workflowId: 'handoff-reuse', reason: 'done with it' });
    const { polled } = await waitingPoll('handoff-reuse', ['manual']);
    const second = await engine.startWorkflow('default', {
      workflowId: 'handoff-reuse',
      workflowType: 'manual',
      taskQueue: 'handoff-reuse',
    });
    expect(second.runId).not.toBe(first.runId);
    expect((await polled).task).toMatchObject({ runId: second.runId, lastEventId: 2 });
  });

  test('a handed task whose worker never completes it goes to another poll when its lease runs out', async () => {
    // A's poll waits first, so the start takes it; B's poll (other types, so another memory of the queue)
    // has found the queue empty and waits too, and must learn when A's lease can run out.
    const { polled: a } = await waitingPoll('handoff-lost', ['manual']);
    const { polled: b } = await waitingPoll('handoff-lost', ['manual', 'other']);
    await engine.startWorkflow('default', {
      workflowId: 'handoff-lost',
      workflowType: 'manual',
      taskQueue: 'handoff-lost',
      workflowTaskTimeoutMs: 300,
    });
    const handed = (await a).task;
    expect(handed?.attempt).toBe(1);
    // A's worker died holding it. B's poll (waiting up to 10 s) gets the retry once the lease ran out.
    const retried = (await b).task;
    expect(retried).toMatchObject({ workflowId: 'handoff-lost', attempt: 2 });
    await expect(
      engine.completeWorkflowTask('default', { taskToken: handed!.taskToken, commands: [] }),
    ).rejects.toThrow(/no longer leased/);
  });

  test('with a worker, every sequential start reaches it without a claim', async () => {
    const othersWaiting = engine.ctx.waitingPolls.size;
    await t.startWorker({
      taskQueue: 'handoff-worker',
      workflows: { echo: async (n: number) => n },
      activities: {},
    });
    const handedBefore = engine.ctx.waitingPolls.handedOff;
    for (let i = 0; i < 10; i++) {
      await waitFor(() => engine.ctx.waitingPolls.size > othersWaiting, { what: 'the worker to poll' });
      const handle = await t.client.workflow.start('echo', { taskQueue: 'handoff-worker', id: `hw-${i}`, args: [i] });
      expect(await handle.result()).toBe(i);
    }
    // The runs' task events: one workflow task each, started once, never timed out or retried.
    for (let i = 0; i < 10; i++) {
      const events = await engine.listTaskEvents('default', { workflowId: `hw-${i}` });
      expect(events.events.filter((e) => e.source === 'workflow').map((e) => e.kind)).toEqual(['started', 'completed']);
    }
    expect(engine.ctx.waitingPolls.handedOff - handedBefore).toBe(10);
  });

  test('a worker idle on one poll gets a burst of starts in one answer and runs them all', async () => {
    const othersWaiting = engine.ctx.waitingPolls.size;
    await t.startWorker({
      taskQueue: 'handoff-worker-burst',
      workflows: { twice: async (n: number) => n * 2 },
      activities: {},
    });
    await waitFor(() => engine.ctx.waitingPolls.size > othersWaiting, { what: 'the worker to poll' });
    const handedBefore = engine.ctx.waitingPolls.handedOff;
    const results = await Promise.all(
      Array.from({ length: 20 }, (_, i) =>
        t.client.workflow.execute('twice', { taskQueue: 'handoff-worker-burst', id: `hwb-${i}`, args: [i] }),
      ),
    );
    expect(results).toEqual(Array.from({ length: 20 }, (_, i) => i * 2));
    // All twenty first tasks were handed over by the starts (none claimed), each started once.
    expect(engine.ctx.waitingPolls.handedOff - handedBefore).toBe(20);
    for (let i = 0; i < 20; i++) {
      const events = await engine.listTaskEvents('default', { workflowId: `hwb-${i}` });
      expect(events.events.filter((e) => e.source === 'workflow').map((e) => e.kind)).toEqual(['started', 'completed']);
    }
  });
});
