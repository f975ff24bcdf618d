import { describe, expect, test } from 'vitest';
import { Client, type WorkflowHandle } from '../src/client/index.js';
import { fromPayload, type HistoryEvent, type HistoryEventOf } from '../src/protocol/index.js';
import {
  finish,
  fiveSteps,
  hangAfterFirstStep,
  parentOfFiveSteps,
  runSteps,
  sleepThenStep,
  stepsOnRequest,
} from './fixtures/crash/definitions.js';
import { BACKEND, skipBackend } from './support/backend.js';
import { TASK_QUEUE, useCrashHarness } from './support/crash-harness.js';
import { type ChildScript, waitUntil } from './support/processes.js';

/**
 * Fault injection with real processes: servers and workers run as child
 * processes and are killed with SIGKILL (no shutdown hooks, leases left
 * dangling, sockets torn down) at chosen points. Each test then checks a
 * guarantee of ARCHITECTURE.md: a workflow whose worker is killed completes
 * once another worker runs, activity results are recorded once, and a
 * durable timer survives a server crash without firing early or twice.
 */
const skip = await skipBackend();
const { startServerProcess, startWorkerProcess, logLines } = useCrashHarness(skip);

/** Crashes of others must not show up as internal errors in the servers that survive or come back. */
function expectNoServerErrors(...servers: ChildScript[]): void {
  for (const server of servers) expect(server.output()).not.toMatch(/unexpected error|background task error/);
}

function eventsOf<K extends HistoryEvent['type']>(history: HistoryEvent[], type: K): HistoryEventOf<K>[] {
  return history.filter((e): e is HistoryEventOf<K> => e.type === type);
}

async function countCompletedActivities(handle: WorkflowHandle): Promise<number> {
  return eventsOf(await handle.fetchHistory(), 'ActivityTaskCompleted').length;
}

/** Every ActivityTaskCompleted is for a distinct scheduled activity; returns the results in history order. */
function expectEachResultRecordedOnce(history: HistoryEvent[]): unknown[] {
  const scheduled = eventsOf(history, 'ActivityTaskScheduled').map((e) => e.eventId);
  const completed = eventsOf(history, 'ActivityTaskCompleted');
  const completedFor = completed.map((e) => e.attributes.scheduledEventId);
  expect(new Set(completedFor).size).toBe(completedFor.length);
  expect(completedFor.sort((a, b) => a - b)).toEqual(scheduled);
  expect(eventsOf(history, 'ActivityTaskFailed')).toHaveLength(0);
  expect(eventsOf(history, 'ActivityTaskTimedOut')).toHaveLength(0);
  expect(eventsOf(history, 'WorkflowExecutionCompleted')).toHaveLength(1);
  return completed.map((e) => fromPayload(e.attributes.result));
}

describe.skipIf(skip)(`crash (${BACKEND}, real processes, SIGKILL)`, () => {
  test('a worker killed in the middle of an activity: another worker finishes the workflow, each result recorded once', async () => {
    const t0 = Date.now();
    const server = await startServerProcess();
    const workerA = await startWorkerProcess('worker-a', server.url);
    const client = await Client.connect({ address: server.url });
    const handle = await client.workflow.start(fiveSteps, {
      id: 'five-steps',
      taskQueue: TASK_QUEUE,
      workflowTaskTimeout: '2s',
    });

    // Two results recorded and the third activity running on worker A: kill A now, mid-activity.
    await waitUntil('two completed activities and step 3 running', async () => {
      const lines = await logLines();
      return (await countCompletedActivities(handle)) >= 2 && lines.some((l) => l.startsWith('start step-3 attempt-1'));
    });
    await workerA.process.kill9();
    const killedAt = Date.now();
    expect(await countCompletedActivities(handle)).toBe(2);

    // Worker B gets step 3 back once A's lease runs out (start-to-close 2s), and does the rest.
    const workerB = await startWorkerProcess('worker-b', server.url);
    expect(await handle.result()).toEqual(['step-1', 'step-2', 'step-3', 'step-4', 'step-5']);
    const recoveredIn = Date.now() - killedAt;

    const history = await handle.fetchHistory();
    expect(expectEachResultRecordedOnce(history)).toEqual(['step-1', 'step-2', 'step-3', 'step-4', 'step-5']);
    const completed = eventsOf(history, 'ActivityTaskCompleted');
    expect(completed.map((e) => e.attributes.identity)).toEqual([
      workerA.identity,
      workerA.identity,
      workerB.identity,
      workerB.identity,
      workerB.identity,
    ]);
    // The killed attempt counted: step 3's recorded result is from a later attempt.
    expect(completed[2]?.attributes.attempt).toBeGreaterThanOrEqual(2);

    // At-least-once execution: step 3 ran twice (once killed half-way), results recorded once.
    const lines = await logLines();
    const starts = (n: number) => lines.filter((l) => l.startsWith(`start step-${n} `)).length;
    expect(lines).toContain(`start step-3 attempt-1 pid-${workerA.process.pid}`);
    expect(lines.some((l) => l.startsWith('done step-3 attempt-1 '))).toBe(false);
    expect(starts(3)).toBeGreaterThanOrEqual(2);
    for (const n of [1, 2, 4, 5]) expect(starts(n)).toBeGreaterThanOrEqual(1);
    expectNoServerErrors(server.process);
    console.log(`[crash] worker kill: recovered ${recoveredIn} ms after SIGKILL; test took ${Date.now() - t0} ms`);
  }, 30_000);

  test('a worker killed between a child workflow start and its completion: the caller of the parent still gets the result', async () => {
    const server = await startServerProcess();
    const workerA = await startWorkerProcess('worker-a', server.url);
    const client = await Client.connect({ address: server.url });
    const parent = await client.workflow.start(parentOfFiveSteps, {
      id: 'crash-parent',
      taskQueue: TASK_QUEUE,
      workflowTaskTimeout: '2s',
    });
    const child = client.workflow.getHandle('crash-child');
    await waitUntil('the child to have run two activities', async () => {
      const started = eventsOf(await parent.fetchHistory(), 'ChildWorkflowExecutionStarted').length > 0;
      return started && (await countCompletedActivities(child).catch(() => 0)) >= 2;
    });
    await workerA.process.kill9();
    await startWorkerProcess('worker-b', server.url);
    expect(await parent.result()).toEqual(['step-1', 'step-2', 'step-3', 'step-4', 'step-5']);
    const parentHistory = await parent.fetchHistory();
    expect(eventsOf(parentHistory, 'StartChildWorkflowExecutionInitiated')).toHaveLength(1);
    expect(eventsOf(parentHistory, 'ChildWorkflowExecutionCompleted')).toHaveLength(1);
    expectEachResultRecordedOnce(await child.fetchHistory());
    expectNoServerErrors(server.process);
  }, 30_000);

  test('a worker killed between an update being accepted and completed: the caller still gets the result', async () => {
    const server = await startServerProcess();
    const workerA = await startWorkerProcess('worker-a', server.url);
    const client = await Client.connect({ address: server.url });
    const handle = await client.workflow.start(stepsOnRequest, {
      id: 'crash-update',
      taskQueue: TASK_QUEUE,
      workflowTaskTimeout: '2s',
    });
    const update = await handle.startUpdate(runSteps, { args: [3], updateId: 'run-three' });
    await waitUntil('the update to have run one step', async () => (await countCompletedActivities(handle)) >= 1);
    await workerA.process.kill9();
    await startWorkerProcess('worker-b', server.url);
    expect(await update.result()).toEqual(['step-1', 'step-2', 'step-3']);
    await handle.signal(finish);
    expect(await handle.result()).toBe(1);
    const history = await handle.fetchHistory();
    expect(eventsOf(history, 'WorkflowExecutionUpdateAccepted')).toHaveLength(1);
    expect(eventsOf(history, 'WorkflowExecutionUpdateCompleted')).toHaveLength(1);
    expectEachResultRecordedOnce(history);
    expectNoServerErrors(server.process);
  }, 30_000);

  test('the server killed during a durable sleep: the timer fires once, after restart, never early', async () => {
    const t0 = Date.now();
    const firstServer = await startServerProcess();
    let server = firstServer;
    const worker = await startWorkerProcess('worker', server.url);
    const client = await Client.connect({ address: server.url });
    const handle = await client.workflow.start(sleepThenStep, { id: 'sleep-then-step', taskQueue: TASK_QUEUE });

    const started = await waitUntil('TimerStarted in history', async () => {
      return eventsOf(await handle.fetchHistory(), 'TimerStarted')[0];
    });
    const { fireAt } = started.attributes;
    await server.process.kill9();

    // Deliberately wait past the due time while no server is up, so the timer is overdue at restart.
    const downUntil = fireAt + 500;
    await new Promise((resolve) => setTimeout(resolve, Math.max(0, downUntil - Date.now())));
    expect(worker.process.child.exitCode).toBeNull();
    const restartedAt = Date.now();
    server = await startServerProcess(server.port);

    // The same worker process reconnects by itself (poll retries with backoff) and finishes the workflow.
    expect(await handle.result()).toBe('step-1');
    const finishedAt = Date.now();

    const history = await handle.fetchHistory();
    expect(eventsOf(history, 'TimerStarted')).toHaveLength(1);
    const fired = eventsOf(history, 'TimerFired');
    expect(fired).toHaveLength(1);
    expect(fired[0]?.attributes.startedEventId).toBe(started.eventId);
    expect(fired[0]?.timestamp).toBeGreaterThanOrEqual(fireAt);
    // Fired by the restarted server, not before the crash.
    expect(fired[0]?.timestamp).toBeGreaterThanOrEqual(restartedAt);
    expect(expectEachResultRecordedOnce(history)).toEqual(['step-1']);
    expect(eventsOf(history, 'ActivityTaskCompleted')[0]?.attributes.identity).toBe(worker.identity);
    expect(worker.process.output()).toMatch(/poll failed; retrying/);
    expectNoServerErrors(firstServer.process, server.process);
    expect(worker.process.child.exitCode).toBeNull();
    console.log(
      `[crash] server kill: timer fired ${(fired[0]?.timestamp ?? 0) - fireAt} ms after due ` +
        `(${(fired[0]?.timestamp ?? 0) - restartedAt} ms after restart began); worker finished ` +
        `${finishedAt - restartedAt} ms after restart began; test took ${Date.now() - t0} ms`,
    );
    // Generous: the worker's reconnect backoff doubles up to 10 s, so a slow restart can cost one long wait.
  }, 45_000);

  test('a worker killed while stuck inside a workflow task: the task is handed out again and replayed elsewhere', async () => {
    const t0 = Date.now();
    const server = await startServerProcess();
    // Results recorded before the workflow code runs: the hang is inside the leased workflow task.
    const workerA = await startWorkerProcess('worker-a', server.url, {
      CRASH_HANG_AT: 'after-step-1',
      CRASH_RUN_AHEAD: 'off',
    });
    const client = await Client.connect({ address: server.url });
    const handle = await client.workflow.start(hangAfterFirstStep, {
      id: 'hang-after-first-step',
      taskQueue: TASK_QUEUE,
      workflowTaskTimeout: '2s',
    });

    // Worker A holds the lease of the workflow task after step 1 and is blocked inside the workflow code.
    await waitUntil('worker A stuck in a workflow task', async () =>
      (await logLines()).some((l) => l.startsWith('hang after-step-1')),
    );
    await workerA.process.kill9();
    const killedAt = Date.now();

    const workerB = await startWorkerProcess('worker-b', server.url);
    expect(await handle.result()).toEqual(['step-1', 'step-2']);
    const recoveredIn = Date.now() - killedAt;

    const history = await handle.fetchHistory();
    expect(expectEachResultRecordedOnce(history)).toEqual(['step-1', 'step-2']);
    expect(eventsOf(history, 'ActivityTaskScheduled')).toHaveLength(2);
    // The task that followed step 1 was completed by B, as a later attempt of the one A leased.
    const firstResult = eventsOf(history, 'ActivityTaskCompleted')[0] as HistoryEvent;
    const next = eventsOf(history, 'WorkflowTaskCompleted').find((e) => e.eventId > firstResult.eventId);
    expect(next?.attributes.identity).toBe(workerB.identity);
    expect(next?.attributes.attempt).toBeGreaterThanOrEqual(2);
    expect(
      eventsOf(history, 'WorkflowTaskCompleted').filter((e) => e.attributes.identity === workerA.identity),
    ).toHaveLength(1);
    // Watchers saw the stuck attempt time out before the next one started.
    const taskEvents = [];
    for await (const event of handle.watchEvents()) if (event.source === 'workflow') taskEvents.push(event);
    const timedOut = taskEvents.findIndex((e) => e.kind === 'timed-out');
    expect(taskEvents[timedOut]).toMatchObject({
      attempt: 1,
      message: expect.stringMatching(/did not complete it in time/),
    });
    expect(taskEvents[timedOut + 1]).toMatchObject({ kind: 'started', attempt: 2 });
    expectNoServerErrors(server.process);
    console.log(
      `[crash] workflow-task kill: recovered ${recoveredIn} ms after SIGKILL; test took ${Date.now() - t0} ms`,
    );
  }, 30_000);

  test('a worker killed while running the next task ahead with a result: nothing was recorded, the attempt is retried and recorded once', async () => {
    const t0 = Date.now();
    const server = await startServerProcess();
    // Worker A runs the workflow on from its cache when step 1 finishes, and hangs there, before reporting.
    const workerA = await startWorkerProcess('worker-a', server.url, { CRASH_HANG_AT: 'after-step-1' });
    const client = await Client.connect({ address: server.url });
    const handle = await client.workflow.start(hangAfterFirstStep, { id: 'hang-running-ahead', taskQueue: TASK_QUEUE });
    await waitUntil('worker A stuck running ahead', async () =>
      (await logLines()).some((l) => l.startsWith('hang after-step-1')),
    );
    // Step 1 finished on A, but its result travels with the decision A never made: none is recorded.
    expect(await logLines()).toContain(`done step-1 attempt-1 pid-${workerA.process.pid}`);
    expect(eventsOf(await handle.fetchHistory(), 'ActivityTaskCompleted')).toHaveLength(0);
    await workerA.process.kill9();
    const killedAt = Date.now();

    const workerB = await startWorkerProcess('worker-b', server.url);
    expect(await handle.result()).toEqual(['step-1', 'step-2']);
    const recoveredIn = Date.now() - killedAt;
    // A's attempt timed out like any attempt whose worker died, and B ran step 1 again: recorded once.
    expect((await logLines()).filter((l) => l.startsWith('done step-1'))).toHaveLength(2);
    const history = await handle.fetchHistory();
    expect(expectEachResultRecordedOnce(history)).toEqual(['step-1', 'step-2']);
    const first = eventsOf(history, 'ActivityTaskCompleted')[0]!;
    expect(first.attributes).toMatchObject({ attempt: 2, identity: workerB.identity });
    expectNoServerErrors(server.process);
    console.log(`[crash] run-ahead kill: recovered ${recoveredIn} ms after SIGKILL; test took ${Date.now() - t0} ms`);
  }, 30_000);

  test('a worker frozen mid-activity and resumed after its lease expired: its late result is rejected while the retry runs', async () => {
    const t0 = Date.now();
    const server = await startServerProcess();
    const workerA = await startWorkerProcess('worker-a', server.url);
    const client = await Client.connect({ address: server.url });
    const handle = await client.workflow.start(fiveSteps, {
      id: 'five-steps-frozen',
      taskQueue: TASK_QUEUE,
      workflowTaskTimeout: '2s',
    });

    // SIGSTOP, not SIGKILL: worker A keeps its sockets and its attempt of step 3, and will finish it late.
    await waitUntil('step 3 running on worker A', async () =>
      (await logLines()).some((l) => l.startsWith('start step-3 attempt-1')),
    );
    process.kill(workerA.process.pid, 'SIGSTOP');
    const workerB = await startWorkerProcess('worker-b', server.url);
    // Resume A while B runs a retry, so A's late result arrives while the activity is leased to B. (A's
    // long-polls stay open while it is frozen, so the server may hand A a retry or two first; those leases
    // run out too, and B gets the next attempt.)
    const retryOnB = new RegExp(`^start step-3 attempt-\\d+ pid-${workerB.process.pid}$`);
    await waitUntil('step 3 retried on worker B', async () => (await logLines()).some((l) => retryOnB.test(l)), {
      timeoutMs: 20_000,
    });
    process.kill(workerA.process.pid, 'SIGCONT');

    // A finishes its stale attempt and reports it; the server refuses it because the lease moved on.
    await workerA.process.waitForLine(/could not report activity step/);
    expect(await handle.result()).toEqual(['step-1', 'step-2', 'step-3', 'step-4', 'step-5']);

    const history = await handle.fetchHistory();
    expect(expectEachResultRecordedOnce(history)).toEqual(['step-1', 'step-2', 'step-3', 'step-4', 'step-5']);
    const step3 = eventsOf(history, 'ActivityTaskCompleted')[2];
    expect(step3?.attributes.identity).toBe(workerB.identity);
    expect(step3?.attributes.attempt).toBeGreaterThanOrEqual(2);
    const lines = await logLines();
    expect(lines).toContain(`done step-3 attempt-1 pid-${workerA.process.pid}`);
    expectNoServerErrors(server.process);
    console.log(`[crash] frozen worker: test took ${Date.now() - t0} ms`);
  }, 30_000);
});
