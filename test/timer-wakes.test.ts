import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import type { Connection } from '../src/client/index.js';
import { TIMER_WAKE_GRACE_MS } from '../src/engine/apply-commands.js';
import { EARLY_REPORT_HOLD_MS } from '../src/engine/fire-timer.js';
import type { Engine } from '../src/engine/index.js';
import {
  type FireTimerResponse,
  type HistoryEvent,
  type TidewayApi,
  TidewayApiError,
  toPayload,
  type WorkflowTask,
} from '../src/protocol/index.js';
import type { WorkerOptions } from '../src/worker/index.js';
import { realDateNow } from '../src/workflow/determinism.js';
import {
  condition,
  defineSignal,
  setHandler,
  sideEffect,
  sleep,
  type WorkflowFunction,
} from '../src/workflow/index.js';
import { skipBackend } from './support/backend.js';
import { createTideway, type TestTideway, TRANSPORTS } from './support/env.js';
import { replayAllRuns } from './support/replay-check.js';
import { waitFor } from './support/wait.js';

// A worker reports the timers its workflows start when they fall due, from
// its own clock (`wakesTimers`, `fireTimer`), with the workflow task the
// fired timer creates run ahead in the same request. The engine's timer
// service gives such a timer a grace period, and fires it itself only if the
// worker does not.

// The real wall clock, the one timers are promised against (`fireAt` is epoch ms by `Date.now()`). The
// monotonic clock (`performance.now()`) may run slower than it while NTP slews the time, by up to 0.05%:
// a 500 ms timer on time by the wall clock has measured 499.9 ms by it.
const wallClock = realDateNow;

/** Sleeps `ms` and says when it fell asleep and woke, by the real clock (recorded, so replays agree). */
async function napper(ms: number): Promise<{ sleptAt: number; wokeAt: number }> {
  const sleptAt = sideEffect(wallClock);
  await sleep(ms);
  const wokeAt = sideEffect(wallClock);
  return { sleptAt, wokeAt };
}

/** Two naps in a row: the second timer is started by the task run ahead of the first's firing. */
async function twoNaps(ms: number): Promise<number> {
  await sleep(ms);
  await sleep(ms);
  return 2;
}

/**
 * Starts a timer and keeps running for `busyMs` before awaiting it, twice (the second from the task run
 * ahead of the first's firing); says when each timer was asked for, by the real clock.
 */
async function busyNaps(ms: number, busyMs: number): Promise<number[]> {
  const calledAt: number[] = [];
  for (let i = 0; i < 2; i++) {
    calledAt.push(sideEffect(wallClock));
    const nap = sleep(ms);
    const until = wallClock() + busyMs;
    while (wallClock() < until) {
      // The code runs on after starting the timer: the report leaves only once it is done.
    }
    await nap;
  }
  return calledAt;
}

const poke = defineSignal('poke');

/**
 * Waits for a poke with a timeout (the poke comes first, so the timeout's
 * timer is cancelled), then for a second poke, running on meanwhile.
 */
async function waitsForPoke(timeoutMs: number): Promise<boolean> {
  let pokes = 0;
  setHandler(poke, () => {
    pokes++;
  });
  const inTime = await condition(() => pokes > 0, timeoutMs);
  await condition(() => pokes > 1);
  return inTime;
}

const workflows = { napper, twoNaps, waitsForPoke, busyNaps };
const _quiet = { debug() {}, info() {}, warn() {}, error: console.error };
const NS = 'default';

/** Counts timer reports and what came of them, and how many workflow tasks came by polling. */
function countingConnection(api: TidewayApi) {
  const counted: TidewayApi = Object.create(api);
  const counts = { reports: 0, fired: 0, sentAhead: 0, recordedAhead: 0, polledWorkflowTasks: 0 };
  let answered = 0;
  counted.fireTimer = async (ns, request) => {
    counts.reports++;
    if (request.next) counts.sentAhead++;
    try {
      const response = await api.fireTimer(ns, request);
      if (response.outcome === 'fired') counts.fired++;
      if (response.next?.applied) counts.recordedAhead++;
      return response;
    } finally {
      answered++;
    }
  };
  counted.pollWorkflowTask = async (ns, request, signal) => {
    const polled = await api.pollWorkflowTask(ns, request, signal);
    if (polled.task && !polled.task.query) counts.polledWorkflowTasks += 1 + (polled.moreTasks?.length ?? 0);
    return polled;
  };
  const connection: Connection = { api: counted, target: 'counting' };
  // A run's result can reach its caller before the worker has the engine's answer to the report that closed it.
  const settled = () => waitFor(async () => answered === counts.reports, { what: 'answers to every report' });
  return { connection, counts, settled };
}

const skip = await skipBackend();

describe.skipIf(skip).each(TRANSPORTS)('workers report their own timers, over %s', (transport) => {
  let t: TestTideway;
  const startWorker = (options: Omit<WorkerOptions, 'workflows'>) => t.startWorker({ workflows, ...options });
  beforeAll(async () => {
    t = await createTideway(transport);
  });
  afterAll(() => t?.teardown());

  const types = (history: HistoryEvent[]) => history.map((e) => e.type);

  test('the timer fires by the worker’s report, never early, with the next task in the same report', async () => {
    const { connection, counts, settled } = countingConnection(t.connection.api);
    const taskQueue = `wake-${transport}`;
    await startWorker({ connection, taskQueue });
    const handles = await Promise.all(
      [0, 1, 2].map((i) => t.client.workflow.start(napper, { taskQueue, id: `wake-${transport}-${i}`, args: [300] })),
    );
    for (const handle of handles) {
      const { sleptAt, wokeAt } = await handle.result();
      expect(wokeAt - sleptAt).toBeGreaterThanOrEqual(300);
      const history = await handle.fetchHistory();
      const started = history.find((e) => e.type === 'TimerStarted');
      const fired = history.find((e) => e.type === 'TimerFired');
      if (started?.type !== 'TimerStarted' || !fired) throw new Error('no timer in history');
      // Never early by the engine's clock; and fired by the report, well inside the grace period.
      expect(fired.timestamp).toBeGreaterThanOrEqual(started.attributes.fireAt);
      expect(fired.timestamp).toBeLessThan(started.attributes.fireAt + TIMER_WAKE_GRACE_MS);
    }
    await settled();
    // One report per timer, each with the task it created: after the first, no task came by polling.
    expect(counts).toEqual({ reports: 3, fired: 3, sentAhead: 3, recordedAhead: 3, polledWorkflowTasks: 3 });

    // The history is the one the engine's own timer service writes.
    const plainQueue = `plain-${transport}`;
    await startWorker({ connection: t.connection, taskQueue: plainQueue, wakeTimers: false });
    const reference = await t.client.workflow.start(napper, { taskQueue: plainQueue, id: plainQueue, args: [300] });
    await reference.result();
    expect(types(await handles[0]!.fetchHistory())).toEqual(types(await reference.fetchHistory()));
    const problems = await replayAllRuns(t.client, new Map<string, WorkflowFunction>(Object.entries(workflows)));
    expect(problems).toEqual([]);
  });

  test('a timer counts from when the code asked for it, not from when its task was reported', async () => {
    const taskQueue = `busy-${transport}`;
    await startWorker({ taskQueue });
    const handle = await t.client.workflow.start(busyNaps, { taskQueue, id: taskQueue, args: [200, 60] });
    const calledAt = await handle.result();
    const started = (await handle.fetchHistory()).flatMap((e) => (e.type === 'TimerStarted' ? [e] : []));
    expect(started).toHaveLength(2);
    started.forEach((event, i) => {
      const from = event.attributes.fireAt - 200;
      // Never before the code asked; and not after the 60 ms it ran on (as when counted from the report).
      expect(from).toBeGreaterThanOrEqual(calledAt[i]!);
      expect(from).toBeLessThan(calledAt[i]! + 30);
    });
  });

  test('a timer started by a task run ahead is reported too', async () => {
    const { connection, counts, settled } = countingConnection(t.connection.api);
    const taskQueue = `chain-${transport}`;
    await startWorker({ connection, taskQueue });
    const handle = await t.client.workflow.start(twoNaps, { taskQueue, id: taskQueue, args: [100] });
    expect(await handle.result()).toBe(2);
    await settled();
    expect(counts).toEqual({ reports: 2, fired: 2, sentAhead: 2, recordedAhead: 2, polledWorkflowTasks: 1 });
  });

  test('a timer’s report holds no workflow slot while its answer is out: the next timer still runs on', async () => {
    // Two workflow slots, one held by the idle poll. The engine applies each report at once, but its answer
    // is withheld until both timers were reported: a slot held until the answer would leave the second
    // timer without one (it waits 100 ms, then is reported without its task).
    const { connection, counts, settled } = countingConnection(t.connection.api);
    let openGate!: () => void;
    const gate = new Promise<void>((resolve) => {
      openGate = resolve;
    });
    const withheld: TidewayApi = Object.create(connection.api);
    withheld.fireTimer = async (ns, request) => {
      const answer = await connection.api.fireTimer(ns, request);
      await gate;
      return answer;
    };
    const taskQueue = `slots-${transport}`;
    await startWorker({ connection: { api: withheld, target: 'withheld' }, taskQueue, maxConcurrentWorkflowTasks: 2 });
    const handles = await Promise.all(
      [0, 1].map((i) => t.client.workflow.start(napper, { taskQueue, id: `${taskQueue}-${i}`, args: [500] })),
    );
    await waitFor(() => counts.reports === 2, { what: 'both timers reported', timeoutMs: 20_000 });
    openGate();
    expect(counts.sentAhead).toBe(2);
    for (const handle of handles) {
      const { sleptAt, wokeAt } = await handle.result();
      expect(wokeAt - sleptAt).toBeGreaterThanOrEqual(500);
    }
    await settled();
  });

  test('a report on a run this server last changed fires on what it knows; a wrong guess falls back to reads', async () => {
    const knownRuns = t.env.engine.ctx.knownRuns;
    const { connection, settled } = countingConnection(t.connection.api);
    // Each report, with what the server's guesses came to while it was answered.
    const reports: { outcome: string; tried: number; missed: number }[] = [];
    const guessing: TidewayApi = Object.create(connection.api);
    guessing.fireTimer = async (ns, request) => {
      const before = { tried: knownRuns.tried, missed: knownRuns.missed };
      const response = await connection.api.fireTimer(ns, request);
      reports.push({
        outcome: response.outcome,
        tried: knownRuns.tried - before.tried,
        missed: knownRuns.missed - before.missed,
      });
      return response;
    };
    const taskQueue = `known-${transport}`;
    await startWorker({ connection: { api: guessing, target: 'guessing' }, taskQueue });
    const first = await t.client.workflow.start(napper, { taskQueue, id: `${taskQueue}-1`, args: [200] });
    await first.result();
    // The second run's timer is known with a wrong TimerStarted event: its guard must refuse the guess.
    const second = await t.client.workflow.start(napper, { taskQueue, id: `${taskQueue}-2`, args: [500] });
    await waitFor(async () => knownRuns.peek(NS, second.runId!)?.timers?.size === 1, { what: 'the timer known' });
    const known = knownRuns.peek(NS, second.runId!)!;
    const [key, timer] = [...known.timers!][0]!;
    (known.timers as Map<string, typeof timer>).set(key, { ...timer, startedEventId: timer.startedEventId + 1 });
    const { sleptAt, wokeAt } = await second.result();
    expect(wokeAt - sleptAt).toBeGreaterThanOrEqual(500);
    await settled();
    expect(reports).toEqual([
      { outcome: 'fired', tried: 1, missed: 0 },
      { outcome: 'fired', tried: 1, missed: 1 },
    ]);
    for (const handle of [first, second]) {
      const history = await handle.fetchHistory();
      expect(history.filter((e) => e.type === 'TimerFired')).toHaveLength(1);
      const started = history.find((e) => e.type === 'TimerStarted')!;
      const fired = history.find((e) => e.type === 'TimerFired');
      expect(fired?.type === 'TimerFired' && fired.attributes.startedEventId).toBe(started.eventId);
    }
  });

  test('a timer the workflow cancelled is not reported', async () => {
    const { connection, counts } = countingConnection(t.connection.api);
    const taskQueue = `cancelled-${transport}`;
    await startWorker({ connection, taskQueue });
    // Long enough that the poke is handled before the timer is due even on a loaded machine (CI once took
    // more than 300 ms from TimerStarted to the cancellation).
    const timeoutMs = 1500;
    const handle = await t.client.workflow.start(waitsForPoke, { taskQueue, id: taskQueue, args: [timeoutMs] });
    await waitFor(async () => (await handle.fetchHistory()).some((e) => e.type === 'TimerStarted'));
    await handle.signal(poke);
    await waitFor(async () => (await handle.fetchHistory()).some((e) => e.type === 'TimerCanceled'));
    // Past the timer's due time: the worker's clock ran out, and its copy of the run awaits no such timer.
    await new Promise((resolve) => setTimeout(resolve, timeoutMs + 200));
    expect(counts.reports).toBe(0);
    await handle.signal(poke);
    expect(await handle.result()).toBe(true);
  });

  test('without the cache the worker still reports its timers; the task then comes by polling', async () => {
    const { connection, counts, settled } = countingConnection(t.connection.api);
    const taskQueue = `nocache-${transport}`;
    await startWorker({ connection, taskQueue, maxCachedWorkflows: 0 });
    const handle = await t.client.workflow.start(napper, { taskQueue, id: taskQueue, args: [100] });
    const { sleptAt, wokeAt } = await handle.result();
    expect(wokeAt - sleptAt).toBeGreaterThanOrEqual(100);
    await settled();
    expect(counts).toEqual({ reports: 1, fired: 1, sentAhead: 0, recordedAhead: 0, polledWorkflowTasks: 2 });
  });
});

describe.skipIf(skip)('timer reports driven by hand', () => {
  let t: TestTideway;
  let engine: Engine;
  let n = 0;
  beforeAll(async () => {
    t = await createTideway('in-process', { replayCheck: false });
    engine = t.env.engine;
  });
  afterAll(() => t?.teardown());

  /** A run whose first task started one timer of `durationMs`, promised (or not) to be reported by its worker. */
  async function runWithTimer(durationMs: number, promised: boolean): Promise<{ runId: string; workflowId: string }> {
    const taskQueue = `hand-${++n}`;
    const workflowId = `hand-${n}`;
    const { runId } = await engine.startWorkflow(NS, { workflowId, workflowType: 'manual', taskQueue, args: [] });
    const task = await poll(taskQueue);
    await engine.completeWorkflowTask(NS, {
      taskToken: task.taskToken,
      commands: [{ type: 'StartTimer', timerId: '1', durationMs }],
      ...(promised ? { wakesTimers: ['1'] } : {}),
    });
    return { runId, workflowId };
  }

  async function poll(taskQueue: string, waitMs = 1000): Promise<WorkflowTask> {
    const { task } = await engine.pollWorkflowTask(NS, { taskQueue, types: ['manual'], waitMs });
    if (!task) throw new Error(`no workflow task on ${taskQueue}`);
    return task;
  }

  const history = async (workflowId: string) =>
    (await engine.getWorkflowHistory(NS, { workflowId, pageSize: 1000 })).events;
  const timerRow = async (runId: string) =>
    (
      await engine.db.query<{ dueAt: number; data: Record<string, unknown> }>(
        `SELECT due_at AS "dueAt", data FROM timers WHERE namespace = $1 AND run_id = $2 AND kind = 'user-timer'`,
        [NS, runId],
      )
    )[0];

  test('a promised timer waits a grace period for the timer service; one not promised does not', async () => {
    const promised = await runWithTimer(60_000, true);
    const started = (await history(promised.workflowId)).find((e) => e.type === 'TimerStarted');
    if (started?.type !== 'TimerStarted') throw new Error('no TimerStarted');
    const row = await timerRow(promised.runId);
    expect(row?.dueAt).toBe(started.attributes.fireAt + TIMER_WAKE_GRACE_MS);
    expect(Number(row?.data.fireAt)).toBe(started.attributes.fireAt);

    const plain = await runWithTimer(60_000, false);
    const plainStarted = (await history(plain.workflowId)).find((e) => e.type === 'TimerStarted');
    if (plainStarted?.type !== 'TimerStarted') throw new Error('no TimerStarted');
    expect((await timerRow(plain.runId))?.dueAt).toBe(plainStarted.attributes.fireAt);
  });

  test('a worker that promised and never reported: the timer service fires the timer after the grace', async () => {
    const { workflowId } = await runWithTimer(100, true);
    const task = await poll(`hand-${n}`, 5000);
    const events = await history(workflowId);
    const started = events.find((e) => e.type === 'TimerStarted');
    const fired = events.find((e) => e.type === 'TimerFired');
    if (started?.type !== 'TimerStarted' || !fired) throw new Error('the timer did not fire');
    expect(fired.timestamp).toBeGreaterThanOrEqual(started.attributes.fireAt + TIMER_WAKE_GRACE_MS);
    expect(task.events.map((e) => e.type)).toContain('TimerFired');
  });

  test('not due yet, then fired, then gone; nothing changes until it is due', async () => {
    const { runId, workflowId } = await runWithTimer(60_000, true);
    const before = await history(workflowId);
    const early = await engine.fireTimer(NS, { runId, timerId: '1' });
    expect(early.outcome).toBe('not-due');
    expect(early.dueInMs).toBeGreaterThan(55_000);
    expect(early.dueInMs).toBeLessThanOrEqual(60_000);
    expect(await history(workflowId)).toEqual(before);

    // The engine's clock reaches the due time; its timer service sleeps on (past the grace), unaware.
    t.clock.skip(60_000);
    expect(await engine.fireTimer(NS, { runId, timerId: '1' })).toEqual({ outcome: 'fired' });
    const after = await history(workflowId);
    expect(after.slice(before.length).map((e) => e.type)).toEqual(['TimerFired', 'WorkflowTaskScheduled']);
    expect(await timerRow(runId)).toBeUndefined();
    // Its task waits in the queue like any other.
    const task = await poll(`hand-${n}`);
    expect(task.events.map((e) => e.type).slice(-2)).toEqual(['TimerFired', 'WorkflowTaskScheduled']);

    expect(await engine.fireTimer(NS, { runId, timerId: '1' })).toEqual({ outcome: 'gone' });
    expect(await engine.fireTimer(NS, { runId, timerId: 'no-such-timer' })).toEqual({ outcome: 'gone' });
    expect(await engine.fireTimer(NS, { runId: 'no-such-run', timerId: '1' })).toEqual({ outcome: 'gone' });
  });

  test('a report a little early is held until the timer is due, then fires; one earlier still is not due', async () => {
    const { runId, workflowId } = await runWithTimer(EARLY_REPORT_HOLD_MS + 400, true);
    const started = (await history(workflowId)).find((e) => e.type === 'TimerStarted');
    if (started?.type !== 'TimerStarted') throw new Error('no TimerStarted');
    const { fireAt } = started.attributes;
    expect((await engine.fireTimer(NS, { runId, timerId: '1' })).outcome).toBe('not-due');

    // Within the hold of the due time by the engine's clock (a worker whose clock runs a little ahead).
    await new Promise((resolve) => setTimeout(resolve, fireAt - EARLY_REPORT_HOLD_MS / 2 - t.clock.now()));
    const reportedAt = t.clock.now();
    expect(fireAt - reportedAt).toBeGreaterThan(0);
    expect(await engine.fireTimer(NS, { runId, timerId: '1' })).toEqual({ outcome: 'fired' });
    expect(t.clock.now()).toBeGreaterThanOrEqual(fireAt);
    const fired = (await history(workflowId)).find((e) => e.type === 'TimerFired');
    expect(fired?.timestamp).toBeGreaterThanOrEqual(fireAt);
  });

  test('the task run ahead is recorded with the timer only when it saw the whole history', async () => {
    const stale = await runWithTimer(1000, true);
    const staleEvents = await history(stale.workflowId);
    t.clock.skip(1000);
    const refused: FireTimerResponse = await engine.fireTimer(NS, {
      runId: stale.runId,
      timerId: '1',
      next: {
        afterEventId: staleEvents.length - 1, // one event short of the history
        taskTime: t.clock.now(),
        commands: [{ type: 'CompleteWorkflow', result: toPayload('too soon') }],
      },
    });
    expect(refused).toEqual({ outcome: 'fired', next: { applied: false } });
    expect((await engine.describeWorkflow(NS, { workflowId: stale.workflowId })).status).toBe('running');
    expect((await poll(`hand-${n}`)).events.map((e) => e.type)).toContain('TimerFired');

    // A task time before the timer was due: workflow time would see the timer fire early.
    const early = await runWithTimer(1000, true);
    const earlyEvents = await history(early.workflowId);
    const earlyStarted = earlyEvents.find((e) => e.type === 'TimerStarted');
    if (earlyStarted?.type !== 'TimerStarted') throw new Error('no TimerStarted');
    t.clock.skip(1000);
    const tooEarly = await engine.fireTimer(NS, {
      runId: early.runId,
      timerId: '1',
      next: {
        afterEventId: earlyEvents.length,
        taskTime: earlyStarted.attributes.fireAt - 1,
        commands: [{ type: 'CompleteWorkflow', result: toPayload('too soon') }],
      },
    });
    expect(tooEarly).toEqual({ outcome: 'fired', next: { applied: false } });
    expect((await engine.describeWorkflow(NS, { workflowId: early.workflowId })).status).toBe('running');

    const whole = await runWithTimer(1000, true);
    const wholeEvents = await history(whole.workflowId);
    t.clock.skip(1000);
    const recorded = await engine.fireTimer(NS, {
      runId: whole.runId,
      timerId: '1',
      identity: 'hand',
      next: {
        afterEventId: wholeEvents.length,
        taskTime: t.clock.now(),
        commands: [{ type: 'CompleteWorkflow', result: toPayload('woke') }],
      },
    });
    expect(recorded).toEqual({ outcome: 'fired', next: { applied: true } });
    const after = await history(whole.workflowId);
    expect(after.slice(wholeEvents.length).map((e) => e.type)).toEqual([
      'TimerFired',
      'WorkflowTaskScheduled',
      'WorkflowTaskCompleted',
      'WorkflowExecutionCompleted',
    ]);
    expect((await engine.getWorkflowResult(NS, { workflowId: whole.workflowId, waitMs: 0 })).status).toBe('completed');
  });

  test('bad reports are refused with what to fix, and change nothing', async () => {
    const { runId, workflowId } = await runWithTimer(60_000, true);
    const before = await history(workflowId);
    const refusal = async (request: unknown) => {
      try {
        await engine.fireTimer(NS, request as never);
      } catch (error) {
        return error as TidewayApiError;
      }
      throw new Error('accepted');
    };
    const missing = await refusal({ runId });
    expect(missing).toBeInstanceOf(TidewayApiError);
    expect(missing.code).toBe('InvalidArgument');
    expect(missing.message).toMatch(/timerId/);
    expect((await refusal({ runId, timerId: 7 })).code).toBe('InvalidArgument');
    expect((await refusal({ runId, timerId: '1', next: { afterEventId: 'x' } })).code).toBe('InvalidArgument');
    await expect(engine.fireTimer('bad namespace', { runId, timerId: '1' })).rejects.toThrow(/namespace/);
    expect(await history(workflowId)).toEqual(before);
    expect(await timerRow(runId)).toBeDefined();
  });
});
