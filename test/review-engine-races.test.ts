import { afterEach, describe, expect, test } from 'vitest';
import { Engine, OffsetClock } from '../src/engine/index.js';
import { toPayload } from '../src/protocol/index.js';
import { type Db, deleteRunPendingWork, lockRun, openDb, openPostgresDb, type Queryable } from '../src/store/index.js';
import { BACKEND, createTestDatabase, skipBackend } from './support/backend.js';

// Races between concurrent transitions that only a real PostgreSQL (several
// connections at once) can show; on PGlite transactions run one at a time.
const skip = await skipBackend();
const NS = 'default';

const cleanups: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

async function freshDatabase(): Promise<{ databaseUrl?: string; inMemory?: boolean }> {
  if (BACKEND !== 'postgres') return { inMemory: true };
  const db = await createTestDatabase();
  cleanups.push(db.drop);
  return { databaseUrl: db.url };
}

const poll = { identity: 'review', waitMs: 2000 };

describe.skipIf(skip || BACKEND !== 'postgres')('on PostgreSQL', () => {
  test('the timer service and a transition closing the run do not deadlock', async () => {
    const store = await freshDatabase();
    const clock = new OffsetClock();
    const errors: unknown[] = [];
    const engine = await Engine.open({ ...store, clock, onError: (e) => errors.push(e) });
    cleanups.push(() => engine.close());
    const other = await openPostgresDb({ connectionString: store.databaseUrl! });
    cleanups.push(() => other.close());

    const { runId } = await engine.startWorkflow(NS, { workflowId: 'dl-1', workflowType: 'wf', taskQueue: 'dl' });
    const task = (await engine.pollWorkflowTask(NS, { ...poll, taskQueue: 'dl', types: ['wf'] })).task;
    await engine.completeWorkflowTask(NS, {
      taskToken: task!.taskToken,
      commands: [{ type: 'StartTimer', timerId: '1', durationMs: 60_000 }],
    });

    // A transition that closes the run (as closeRun does): lock the run, then delete its timers.
    let release!: () => void;
    const gate = new Promise<void>((resolve) => {
      release = resolve;
    });
    const closing = other.transaction(async (tx: Queryable) => {
      await lockRun(tx, NS, runId);
      await gate;
      await deleteRunPendingWork(tx, NS, runId);
    });
    // The timer becomes due while the run is locked; the timer service tries to fire it.
    await new Promise((resolve) => setTimeout(resolve, 100));
    clock.skip(120_000);
    engine.clockChanged();
    // Give the timer service time to claim the timer row (and, before the fix, block on the run lock).
    await new Promise((resolve) => setTimeout(resolve, 300));
    release();
    await expect(closing).resolves.toBeUndefined();
    await new Promise((resolve) => setTimeout(resolve, 200));
    expect(errors.map(String)).toEqual([]);
    // The closing transaction removed the timer, so it never fired.
    const history = await engine.getWorkflowHistory(NS, { workflowId: 'dl-1' });
    expect(history.events.map((e) => e.type)).not.toContain('TimerFired');
  });

  test('the timer service and an activity claim (activity row, then its timer) do not deadlock', async () => {
    const store = await freshDatabase();
    const clock = new OffsetClock();
    const errors: unknown[] = [];
    const engine = await Engine.open({ ...store, clock, onError: (e) => errors.push(e) });
    cleanups.push(() => engine.close());
    const other = await openPostgresDb({ connectionString: store.databaseUrl! });
    cleanups.push(() => other.close());

    await engine.startWorkflow(NS, { workflowId: 'dl-2', workflowType: 'wf', taskQueue: 'dl' });
    const task = (await engine.pollWorkflowTask(NS, { ...poll, taskQueue: 'dl', types: ['wf'] })).task;
    await engine.completeWorkflowTask(NS, {
      taskToken: task!.taskToken,
      commands: [
        { type: 'ScheduleActivity', activityId: '1', activityType: 'a', input: [], startToCloseTimeoutMs: 1000 },
      ],
    });
    const activity = (await engine.pollActivityTask(NS, { ...poll, taskQueue: 'dl', types: ['a'] })).task;
    const scheduledEventId = Number(
      JSON.parse(Buffer.from(activity!.taskToken, 'base64url').toString('utf8')).scheduledEventId,
    );

    // What claimActivityTask and releaseTask do: lock the activity row, then write its timer.
    let release!: () => void;
    const gate = new Promise<void>((resolve) => {
      release = resolve;
    });
    const claiming = other.transaction(async (tx: Queryable) => {
      await tx.query(
        'SELECT 1 FROM activity_tasks WHERE namespace = $1 AND run_id = $2 AND scheduled_event_id = $3 FOR UPDATE',
        [NS, activity!.runId, scheduledEventId],
      );
      await gate;
      await tx.query(`UPDATE timers SET due_at = due_at WHERE namespace = $1 AND run_id = $2 AND timer_key = $3`, [
        NS,
        activity!.runId,
        `activity/${scheduledEventId}`,
      ]);
    });
    await new Promise((resolve) => setTimeout(resolve, 100));
    clock.skip(5000);
    engine.clockChanged();
    await new Promise((resolve) => setTimeout(resolve, 300));
    release();
    await expect(claiming).resolves.toBeUndefined();
    // Then the start-to-close timeout fires and the activity is retried.
    await expect(
      engine.pollActivityTask(NS, { ...poll, taskQueue: 'dl', types: ['a'], waitMs: 5000 }),
    ).resolves.toMatchObject({ task: { attempt: 2 } });
    expect(errors.map(String)).toEqual([]);
  });

  test('a workflow task never carries events its lease has not seen (lastEventId)', async () => {
    const store = await freshDatabase();
    const inner = await openDb(store);
    let afterClaim: (() => Promise<unknown>) | undefined;
    // Runs `afterClaim` right after the workflow-task claim statement, inside the claiming transaction.
    const db: Db = {
      ...inner,
      kind: inner.kind,
      query: (sql, params) => inner.query(sql, params),
      exec: (sql) => inner.exec(sql),
      listen: (c, h) => inner.listen(c, h),
      close: () => inner.close(),
      // The options carry the transaction's notifications: polls rely on them to learn of new tasks.
      transaction: (fn, options) =>
        inner.transaction(
          (tx) =>
            fn({
              exec: (sql) => tx.exec(sql),
              async query(sql, params) {
                const rows = await tx.query(sql, params);
                if (afterClaim && sql.includes('last_event_id_at_lease = r.next_event_id - 1')) {
                  const hook = afterClaim;
                  afterClaim = undefined;
                  await hook();
                }
                return rows as never;
              },
            }),
          options,
        ),
    };
    const engine = await Engine.fromDb(db, {});
    cleanups.push(() => engine.close());

    await engine.startWorkflow(NS, { workflowId: 'ev-1', workflowType: 'wf', taskQueue: 'ev' });
    const first = (await engine.pollWorkflowTask(NS, { ...poll, taskQueue: 'ev', types: ['wf'] })).task;
    await engine.completeWorkflowTask(NS, {
      taskToken: first!.taskToken,
      commands: [
        { type: 'ScheduleActivity', activityId: '1', activityType: 'a', input: [] },
        { type: 'ScheduleActivity', activityId: '2', activityType: 'b', input: [] },
      ],
    });
    const a = (await engine.pollActivityTask(NS, { ...poll, taskQueue: 'ev', types: ['a'] })).task;
    const b = (await engine.pollActivityTask(NS, { ...poll, taskQueue: 'ev', types: ['b'] })).task;
    await engine.completeActivityTask(NS, { taskToken: a!.taskToken, result: toPayload('A') });
    // B's result commits between the claim and the read of the task's events.
    afterClaim = () => engine.completeActivityTask(NS, { taskToken: b!.taskToken, result: toPayload('B') });
    const second = (await engine.pollWorkflowTask(NS, { ...poll, taskQueue: 'ev', types: ['wf'] })).task;
    expect(afterClaim).toBeUndefined();
    expect(second!.events.length).toBeGreaterThan(0);
    for (const e of second!.events) expect(e.eventId).toBeLessThanOrEqual(second!.lastEventId);
    // The worker saw only A; B arrived during the lease and gets a task of its own.
    await engine.completeWorkflowTask(NS, { taskToken: second!.taskToken, commands: [] });
    const third = (await engine.pollWorkflowTask(NS, { ...poll, taskQueue: 'ev', types: ['wf'] })).task;
    expect(third!.events.map((e) => e.type)).toContain('ActivityTaskCompleted');
  });
});

describe.skipIf(skip || BACKEND !== 'postgres')('LISTEN connection', () => {
  test('waiters are woken after the listening connection is re-established', async () => {
    const store = await freshDatabase();
    const engine = await Engine.open(store);
    cleanups.push(() => engine.close());
    const admin = await openPostgresDb({ connectionString: store.databaseUrl! });
    cleanups.push(() => admin.close());
    const polling = engine.pollWorkflowTask(NS, { ...poll, taskQueue: 'ln', types: ['wf'], waitMs: 20_000 });
    await new Promise((resolve) => setTimeout(resolve, 100));
    // The server drops the LISTEN connection; a start commits while nobody listens.
    await admin.query(
      `SELECT pg_terminate_backend(pid) FROM pg_stat_activity
       WHERE datname = current_database() AND query LIKE 'LISTEN%' AND pid <> pg_backend_pid()`,
    );
    await engine.startWorkflow(NS, { workflowId: 'ln-1', workflowType: 'wf', taskQueue: 'ln' });
    const started = Date.now();
    const { task } = await polling;
    expect(task?.workflowId).toBe('ln-1');
    // Well before the poll's own 20 s timeout.
    expect(Date.now() - started).toBeLessThan(5000);
  });
});

describe.skipIf(skip)('starts', () => {
  test('concurrent starts with one request id return the same run', async () => {
    const store = await freshDatabase();
    const engine = await Engine.open(store);
    cleanups.push(() => engine.close());
    for (let i = 0; i < 10; i++) {
      const request = { workflowId: `rq-${i}`, workflowType: 'wf', taskQueue: 'rq', requestId: `req-${i}` };
      const results = await Promise.allSettled([engine.startWorkflow(NS, request), engine.startWorkflow(NS, request)]);
      const values = results.map((r) => (r.status === 'fulfilled' ? r.value : String(r.reason)));
      expect(values).toEqual([
        expect.objectContaining({ workflowId: `rq-${i}` }),
        expect.objectContaining({ workflowId: `rq-${i}` }),
      ]);
      const [x, y] = values as { runId: string; started: boolean }[];
      expect(x!.runId).toBe(y!.runId);
      expect([x!.started, y!.started].sort()).toEqual([false, true]);
    }
  });

  // A second connection holds a lock here: only a real PostgreSQL has one.
  test.skipIf(BACKEND !== 'postgres')(
    "a start held up past its poll's grace does not hold back the others; its task goes back to the queue",
    async () => {
      const store = await freshDatabase();
      const engine = await Engine.open(store);
      cleanups.push(() => engine.close());
      const other = await openPostgresDb({ connectionString: store.databaseUrl! });
      cleanups.push(() => other.close());
      const first = await engine.startWorkflow(NS, { workflowId: 'slow', workflowType: 'wf', taskQueue: 'grace' });
      // Another transaction holds the running run, so a terminate-if-running start of its id waits.
      let release!: () => void;
      const gate = new Promise<void>((resolve) => {
        release = resolve;
      });
      let locked!: () => void;
      const isLocked = new Promise<void>((resolve) => {
        locked = resolve;
      });
      const holding = other.transaction(async (tx: Queryable) => {
        await lockRun(tx, NS, first.runId);
        locked();
        await gate;
      });
      await isLocked;
      // Claim the first run's task out of the way, then wait with room for two handoffs.
      await engine.pollWorkflowTask(NS, { ...poll, taskQueue: 'grace', types: ['wf'], waitMs: 0 });
      const polled = engine.pollWorkflowTask(NS, { ...poll, taskQueue: 'grace', types: ['wf'], maxHandoffs: 2 });
      await waitUntil(() => engine.ctx.waitingPolls.size === 1);
      const startedAt = Date.now();
      const fast = engine.startWorkflow(NS, { workflowId: 'fast', workflowType: 'wf', taskQueue: 'grace' });
      const slow = engine.startWorkflow(NS, {
        workflowId: 'slow',
        workflowType: 'wf',
        taskQueue: 'grace',
        idReusePolicy: 'terminate-if-running',
      });
      // The poll answers with the fast start's task once its grace ran out, the slow start still waiting.
      const answer = await polled;
      expect(Date.now() - startedAt).toBeLessThan(2000);
      expect([answer.task?.workflowId, ...(answer.moreTasks ?? []).map((t) => t.workflowId)]).toEqual(['fast']);
      expect(answer.task?.runId).toBe((await fast).runId);
      release();
      await holding;
      const slowRun = await slow;
      expect(slowRun.runId).not.toBe(first.runId);
      // Its task, refused by the poll that had answered, was given back: the next poll claims it.
      const next = await engine.pollWorkflowTask(NS, { ...poll, taskQueue: 'grace', types: ['wf'] });
      expect(next.task).toMatchObject({ workflowId: 'slow', runId: slowRun.runId, attempt: 1 });
    },
  );
});

async function waitUntil(condition: () => boolean): Promise<void> {
  for (let i = 0; i < 200 && !condition(); i++) await new Promise((resolve) => setTimeout(resolve, 10));
  if (!condition()) throw new Error('condition never held');
}

describe.skipIf(skip)('activity tasks', () => {
  test("an attempt's deadline is its start-to-close bound, not the next heartbeat deadline", async () => {
    const store = await freshDatabase();
    const engine = await Engine.open(store);
    cleanups.push(() => engine.close());
    await engine.startWorkflow(NS, { workflowId: 'hb-1', workflowType: 'wf', taskQueue: 'hb' });
    const task = (await engine.pollWorkflowTask(NS, { ...poll, taskQueue: 'hb', types: ['wf'] })).task;
    await engine.completeWorkflowTask(NS, {
      taskToken: task!.taskToken,
      commands: [
        {
          type: 'ScheduleActivity',
          activityId: '1',
          activityType: 'a',
          input: [],
          startToCloseTimeoutMs: 60_000,
          heartbeatTimeoutMs: 5_000,
        },
      ],
    });
    const activity = (await engine.pollActivityTask(NS, { ...poll, taskQueue: 'hb', types: ['a'] })).task;
    expect(activity!.deadline).toBe(activity!.startedTime + 60_000);
  });
});
