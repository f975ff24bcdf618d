import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { Engine } from '../src/engine/index.js';
import {
  ACTIVITY_COLUMNS,
  type KnownActivity,
  type KnownRun,
  RUN_COLUMNS,
  WORKFLOW_TASK_COLUMNS,
} from '../src/engine/known-runs.js';
import { type ActivityTask, fromPayload, toPayload, type WorkflowTask } from '../src/protocol/index.js';
import { findRunById, getActivityTask, getWorkflowTask } from '../src/store/index.js';
import { BACKEND, skipBackend } from './support/backend.js';
import { createTideway, type TestTideway } from './support/env.js';

// A completion sent on what the engine knows of its run (src/engine/known-runs.ts): no read before its
// writes, guards in the same message. These drive the engine by hand, so each completion is one step.

const skip = await skipBackend();
const NS = 'default';

describe.skipIf(skip)('completions on known state', () => {
  let t: TestTideway;
  let engine: Engine;
  let n = 0;
  beforeAll(async () => {
    t = await createTideway('in-process', { replayCheck: false });
    engine = t.env.engine;
  });
  afterAll(() => t?.teardown());

  const known = () => engine.ctx.knownRuns;

  /** What is known of the run, next to the rows as the database has them now. */
  async function knownAndStored(runId: string): Promise<{ known: KnownRun | undefined; stored: KnownRun }> {
    const db = engine.ctx.db;
    const entry = known().peek(NS, runId);
    const run = await findRunById(db, NS, runId);
    if (!run) throw new Error(`no run ${runId}`);
    const { bufferedSignals: _, ...storedRun } = run;
    const activities = new Map<number, KnownActivity>();
    for (const id of entry?.activities.keys() ?? []) {
      const row = await getActivityTask(db, NS, runId, id);
      if (!row) continue;
      const { input: _i, heartbeatDetails: _h, lastHeartbeatAt: _l, ...activity } = row;
      activities.set(id, activity);
    }
    return {
      known: entry,
      stored: { run: storedRun, workflowTask: (await getWorkflowTask(db, NS, runId)) ?? null, activities },
    };
  }

  /** The engine knows the run exactly as stored (every column it keeps). */
  async function expectKnownAsStored(runId: string): Promise<KnownRun> {
    const { known: entry, stored } = await knownAndStored(runId);
    expect(entry).toBeDefined();
    expect(entry).toEqual(stored);
    return entry!;
  }

  async function start(taskQueue: string): Promise<string> {
    n++;
    const { runId } = await engine.startWorkflow(NS, {
      workflowId: `known-${n}`,
      workflowType: 'manual',
      taskQueue,
      args: [toPayload(n)],
    });
    return runId;
  }

  async function pollWorkflow(taskQueue: string): Promise<WorkflowTask> {
    const { task } = await engine.pollWorkflowTask(NS, { taskQueue, types: ['manual'], waitMs: 1000 });
    if (!task) throw new Error('no workflow task');
    return task;
  }

  const schedule = (activityId: string) => ({
    type: 'ScheduleActivity' as const,
    activityId,
    activityType: 'add',
    input: [toPayload(1)],
    startToCloseTimeoutMs: 60_000,
  });

  /** Completes a workflow task scheduling `ids` activities, all handed back eagerly. */
  async function scheduleEagerly(task: WorkflowTask, ids: string[]): Promise<ActivityTask[]> {
    const response = await engine.completeWorkflowTask(NS, {
      taskToken: task.taskToken,
      identity: 'test',
      commands: ids.map(schedule),
      eagerActivities: { max: ids.length, types: ['add'] },
    });
    expect(response.activityTasks).toHaveLength(ids.length);
    return response.activityTasks!;
  }

  test('every column the engine keeps of a run matches the database at each step, and each completion goes on it', async () => {
    const runId = await start('known-steps');
    // Started: the run and its queued first task.
    expect((await expectKnownAsStored(runId)).workflowTask?.leaseId).toBe(null);
    const task = await pollWorkflow('known-steps');
    // Claimed by a poll of this engine: the lease is known.
    expect((await expectKnownAsStored(runId)).workflowTask?.leaseId).not.toBe(null);

    const tried = known().tried;
    const missed = known().missed;
    const [a, b, c] = await scheduleEagerly(task, ['a', 'b', 'c']);
    const afterSchedule = await expectKnownAsStored(runId);
    expect([...afterSchedule.activities.keys()]).toHaveLength(3);
    expect(afterSchedule.workflowTask).toBe(null);

    // An activity result with eager dispatch of the task it creates.
    const first = await engine.completeActivityTask(NS, {
      taskToken: a!.taskToken,
      identity: 'test',
      result: toPayload('a'),
      eagerWorkflowTypes: ['manual'],
    });
    expect(first.workflowTask).toBeDefined();
    expect((await expectKnownAsStored(runId)).workflowTask?.leaseId).not.toBe(null);
    // A second result while that task is leased: it will need another task after it.
    await engine.completeActivityTask(NS, { taskToken: b!.taskToken, identity: 'test', result: toPayload('b') });
    await expectKnownAsStored(runId);
    // The leased task completes; the events that came in meanwhile queue another.
    await engine.completeWorkflowTask(NS, { taskToken: first.workflowTask!.taskToken, identity: 'test', commands: [] });
    expect((await expectKnownAsStored(runId)).workflowTask).toMatchObject({ leaseId: null });
    await engine.completeActivityTask(NS, { taskToken: c!.taskToken, identity: 'test', result: toPayload('c') });
    await expectKnownAsStored(runId);
    const last = await pollWorkflow('known-steps');
    await engine.completeWorkflowTask(NS, {
      taskToken: last.taskToken,
      identity: 'test',
      commands: [{ type: 'CompleteWorkflow', result: toPayload('done') }],
    });
    expect(known().tried - tried).toBe(6);
    expect(known().missed - missed).toBe(0);
    // Closed: nothing more will report on it.
    expect(known().peek(NS, runId)).toBeUndefined();
    const history = await engine.getWorkflowHistory(NS, { workflowId: `known-${n}` });
    expect(history.events.filter((e) => e.type === 'ActivityTaskCompleted')).toHaveLength(3);
    expect(history.events.at(-1)?.type).toBe('WorkflowExecutionCompleted');
  });

  test('results of activities run in parallel, reported at once, each go on what the one before left known', async () => {
    const runId = await start('known-parallel');
    const activities = await scheduleEagerly(await pollWorkflow('known-parallel'), ['a', 'b', 'c', 'd']);
    const { tried, missed } = known();
    await Promise.all(
      activities.map((a, i) =>
        engine.completeActivityTask(NS, { taskToken: a.taskToken, identity: 'test', result: toPayload(i) }),
      ),
    );
    expect(known().tried - tried).toBe(4);
    expect(known().missed - missed).toBe(0);
    await expectKnownAsStored(runId);
    const history = await engine.getWorkflowHistory(NS, { workflowId: `known-${n}` });
    expect(history.events.filter((e) => e.type === 'ActivityTaskCompleted')).toHaveLength(4);
    expect(history.events.map((e) => e.eventId)).toEqual(history.events.map((_, i) => i + 1));
  });

  test('a signal moves the run: the engine forgets what it knew, and the next completion reads', async () => {
    const runId = await start('known-signal');
    const [activity] = await scheduleEagerly(await pollWorkflow('known-signal'), ['a']);
    expect(known().peek(NS, runId)).toBeDefined();
    await engine.signalWorkflow(NS, { workflowId: `known-${n}`, signalName: 'poke', args: [] });
    expect(known().peek(NS, runId)).toBeUndefined();
    const tried = known().tried;
    await engine.completeActivityTask(NS, { taskToken: activity!.taskToken, identity: 'test', result: toPayload(1) });
    expect(known().tried).toBe(tried);
    // Read under the lock, then known again.
    await expectKnownAsStored(runId);
  });

  test('a poll that claims a task makes its run known as the claim read it, and the completion goes on it', async () => {
    const runId = await start('known-claim');
    // Forgotten (as after a restart, or a change made elsewhere): the claim reads the run with its task.
    known().forget(NS, runId);
    const task = await pollWorkflow('known-claim');
    const entry = await expectKnownAsStored(runId);
    expect(entry.workflowTask?.leaseId).not.toBe(null);
    const { tried, missed } = known();
    await scheduleEagerly(task, ['a']);
    expect(known().tried).toBe(tried + 1);
    expect(known().missed).toBe(missed);
    await expectKnownAsStored(runId);
  });

  /**
   * Each column a guard checks, wrong in what the engine knows: the completion's guard must catch it,
   * nothing of the first attempt may commit, and the completion must still be recorded once, right.
   */
  const wrongRun: [string, (k: KnownRun) => void][] = [
    [
      'the next event id',
      (k) => {
        k.run.nextEventId += 1;
      },
    ],
    [
      'the last event seen',
      (k) => {
        k.run.seenUpToEventId += 1;
      },
    ],
    [
      'the parent',
      (k) => {
        k.run.parentRunId = 'someone';
      },
    ],
    [
      'the children flag',
      (k) => {
        k.run.hasChildren = true;
      },
    ],
    [
      'the updates flag',
      (k) => {
        k.run.hasUpdates = true;
      },
    ],
  ];
  const wrongActivity: [string, (a: KnownActivity) => void][] = [
    [
      'the attempt',
      (a) => {
        a.attempt += 1;
      },
    ],
    [
      'the cancel request',
      (a) => {
        a.cancelRequested = true;
      },
    ],
  ];

  for (const [what, spoil] of wrongRun) {
    test(`a wrong guess of ${what} is caught by the guard and the completion is recorded once`, async () => {
      await expectCaught(spoil);
    });
  }
  for (const [what, spoil] of wrongActivity) {
    test(`a wrong guess of the activity's ${what} is caught by the guard`, async () => {
      await expectCaught((k) => {
        const [id, activity] = [...k.activities][0]!;
        const changed = { ...activity };
        spoil(changed);
        (k.activities as Map<number, KnownActivity>).set(id, changed);
      });
    });
  }
  test('a run closed behind the engine is caught by the guard: the report is refused, nothing recorded', async () => {
    const queue = `known-closed-${n}`;
    const runId = await start(queue);
    const [activity] = await scheduleEagerly(await pollWorkflow(queue), ['a']);
    const workflowId = known().peek(NS, runId)!.run.workflowId;
    await engine.ctx.db.query("UPDATE runs SET status = 'terminated' WHERE namespace = $1 AND run_id = $2", [
      NS,
      runId,
    ]);
    const { tried, missed } = known();
    await expect(
      engine.completeActivityTask(NS, { taskToken: activity!.taskToken, identity: 'test', result: toPayload(7) }),
    ).rejects.toMatchObject({ code: 'NotFound' });
    expect(known().tried).toBe(tried + 1);
    expect(known().missed).toBe(missed + 1);
    const history = await engine.getWorkflowHistory(NS, { workflowId });
    expect(history.events.filter((e) => e.type === 'ActivityTaskCompleted')).toHaveLength(0);
  });

  test('a guess of no workflow task, when the run has one, is caught by the guard', async () => {
    // The run gets a task behind the engine's back (as another replica would give it one).
    await expectCaught(
      () => {},
      async (entry) => {
        await engine.ctx.db.query(
          `INSERT INTO workflow_tasks (namespace, run_id, workflow_id, workflow_type, task_queue, visible_at)
           VALUES ($1, $2, $3, 'manual', 'elsewhere', 0)`,
          [NS, entry.run.runId, entry.run.workflowId],
        );
      },
    );
  });

  /** Runs one activity completion on a spoiled guess; the guard must catch it and the result land once. */
  async function expectCaught(
    spoil: (k: KnownRun) => void,
    behindTheEnginesBack?: (entry: KnownRun) => Promise<void>,
  ): Promise<void> {
    const queue = `known-spoiled-${n}`;
    const runId = await start(queue);
    const [activity] = await scheduleEagerly(await pollWorkflow(queue), ['a']);
    const entry = known().peek(NS, runId)!;
    const spoiled: KnownRun = {
      run: { ...entry.run },
      workflowTask: entry.workflowTask && { ...entry.workflowTask },
      activities: new Map(entry.activities),
    };
    await behindTheEnginesBack?.(entry);
    spoil(spoiled);
    known().know(spoiled);
    const { tried, missed } = known();
    await engine.completeActivityTask(NS, { taskToken: activity!.taskToken, identity: 'test', result: toPayload(7) });
    expect(known().tried).toBe(tried + 1);
    expect(known().missed).toBe(missed + 1);
    const history = await engine.getWorkflowHistory(NS, { workflowId: entry.run.workflowId });
    const results = history.events.filter((e) => e.type === 'ActivityTaskCompleted');
    expect(results).toHaveLength(1);
    expect(fromPayload(results[0]!.attributes.result)).toBe(7);
    expect(results[0]!.eventId).toBe(entry.run.nextEventId);
    expect(history.events.map((e) => e.eventId)).toEqual(history.events.map((_, i) => i + 1));
  }

  test('each column of the rows a completion reads is classified: checked by the guard, fixed, or not kept', async () => {
    const runId = await start('known-columns');
    await scheduleEagerly(await pollWorkflow('known-columns'), ['a']);
    const [scheduledEventId] = known().peek(NS, runId)!.activities.keys();
    const db = engine.ctx.db;
    const run = (await findRunById(db, NS, runId))!;
    const row = (await getActivityTask(db, NS, runId, scheduledEventId!))!;
    await engine.signalWorkflow(NS, { workflowId: run.workflowId, signalName: 'poke', args: [] });
    const task = (await getWorkflowTask(db, NS, runId))!;
    // A column added to a row must be classified before a completion may read it from what is known.
    expect(Object.keys(RUN_COLUMNS).sort()).toEqual(Object.keys(run).sort());
    expect(Object.keys(ACTIVITY_COLUMNS).sort()).toEqual(Object.keys(row).sort());
    expect(Object.keys(WORKFLOW_TASK_COLUMNS).sort()).toEqual(Object.keys(task).sort());
  });
});

describe.skipIf(skip || BACKEND !== 'postgres')('known state across two servers on one database', () => {
  let t: TestTideway;
  let a: Engine;
  let b: Engine;
  beforeAll(async () => {
    t = await createTideway('in-process', { replayCheck: false });
    a = t.env.engine;
    b = await Engine.open({ databaseUrl: t.databaseUrl! });
  });
  afterAll(async () => {
    await b?.close();
    await t?.teardown();
  });

  test('a run another server moved is caught by the guard; completions alternating between servers all land', async () => {
    const { runId } = await a.startWorkflow(NS, {
      workflowId: 'two-servers',
      workflowType: 'manual',
      taskQueue: 'two',
      args: [],
    });
    let { task } = await a.pollWorkflowTask(NS, { taskQueue: 'two', types: ['manual'], waitMs: 1000 });
    const missedBefore = a.ctx.knownRuns.missed + b.ctx.knownRuns.missed;
    for (let step = 0; step < 6; step++) {
      // Even steps report to server a, odd ones to b: each finds the run moved by the other since it last knew it.
      const [here, there] = step % 2 === 0 ? [a, b] : [b, a];
      const scheduled = await here.completeWorkflowTask(NS, {
        taskToken: task!.taskToken,
        identity: 'test',
        commands: [{ type: 'ScheduleActivity', activityId: `s${step}`, activityType: 'add', input: [toPayload(step)] }],
        eagerActivities: { max: 1, types: ['add'] },
      });
      // The other server signals the run: the server that scheduled the activity no longer knows it.
      await there.signalWorkflow(NS, { workflowId: 'two-servers', signalName: 'poke', args: [toPayload(step)] });
      const done = await here.completeActivityTask(NS, {
        taskToken: scheduled.activityTasks![0]!.taskToken,
        identity: 'test',
        result: toPayload(step),
        eagerWorkflowTypes: ['manual'],
      });
      task =
        done.workflowTask ??
        (await there.pollWorkflowTask(NS, { taskQueue: 'two', types: ['manual'], waitMs: 1000 })).task;
    }
    await a.completeWorkflowTask(NS, {
      taskToken: task!.taskToken,
      identity: 'test',
      commands: [{ type: 'CompleteWorkflow', result: toPayload('done') }],
    });
    const history = await a.getWorkflowHistory(NS, { workflowId: 'two-servers', runId });
    expect(history.events.filter((e) => e.type === 'ActivityTaskCompleted')).toHaveLength(6);
    expect(history.events.filter((e) => e.type === 'WorkflowExecutionSignaled')).toHaveLength(6);
    expect(history.events.map((e) => e.eventId)).toEqual(history.events.map((_, i) => i + 1));
    expect(history.events.at(-1)?.type).toBe('WorkflowExecutionCompleted');
    // The signals moved the run on the other server, which the reporting one only learnt from its guards.
    expect(a.ctx.knownRuns.missed + b.ctx.knownRuns.missed - missedBefore).toBeGreaterThan(0);
  });
});
