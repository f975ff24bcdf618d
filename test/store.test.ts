import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { HistoryEvent } from '../src/protocol/index.js';
import {
  advanceRun,
  appendEvents,
  claimActivityTasks,
  claimActivityTasksAndLook,
  claimDueTimers,
  claimTimer,
  claimWorkflowTasks,
  claimWorkflowTasksAndLook,
  type Db,
  deleteTimer,
  findRun,
  findRunById,
  getActivityTask,
  getWorkflowTask,
  insertActivityTasks,
  insertRun,
  insertWorkflowTask,
  isRunMovedConcurrently,
  isUniqueViolation,
  listMigrations,
  listRuns,
  migrate,
  NEVER,
  type NewActivityTask,
  nextActivityTaskVisibleAt,
  nextTimerDueAt,
  nextWorkflowTaskVisibleAt,
  openDb,
  openPgliteDb,
  openPostgresDb,
  type Queryable,
  type RunFilter,
  type RunRow,
  readEvents,
  retryActivityTask,
  retryWorkflowTask,
  type TimerRow,
  upsertTimer,
} from '../src/store/index.js';
import { runRow } from './fixtures/run-row.js';
import { BACKEND, createTestDatabase, skipBackend, storeOptions } from './support/backend.js';

/**
 * The store conformance suite: the same cases on PGlite and on PostgreSQL.
 * Most cases share one database and keep apart by namespace; those that
 * look at global state (migrations, timers) get a fresh database.
 */

/** One task per claim, as a poll with maxTasks 1 asks. */
const claimWorkflowTask = async (q: Queryable, args: Omit<Parameters<typeof claimWorkflowTasks>[1], 'limit'>) =>
  (await claimWorkflowTasks(q, { ...args, limit: 1 }))[0];
const claimActivityTask = async (q: Queryable, args: Omit<Parameters<typeof claimActivityTasks>[1], 'limit'>) =>
  (await claimActivityTasks(q, { ...args, limit: 1 }))[0];

const skip = await skipBackend();

const NOW = 1_700_000_000_000;

/** A migrated database of this project's backend. */
async function openFresh(): Promise<{ db: Db; close: () => Promise<void> }> {
  const { options, cleanup } = await storeOptions();
  const db = await openDb(options);
  return {
    db,
    async close() {
      await db.close();
      await cleanup();
    },
  };
}

/** An empty database with no migrations applied; `connect` opens another handle on the same database. */
async function openUnmigrated(): Promise<{ db: Db; connect: () => Promise<Db>; close: () => Promise<void> }> {
  if (BACKEND === 'postgres') {
    const database = await createTestDatabase();
    const handles: Db[] = [];
    const connect = async () => {
      const db = await openPostgresDb({ connectionString: database.url });
      handles.push(db);
      return db;
    };
    const db = await connect();
    return {
      db,
      connect,
      async close() {
        for (const h of handles) await h.close();
        await database.drop();
      },
    };
  }
  const db = await openPgliteDb();
  return { db, connect: async () => db, close: () => db.close() };
}

let namespaceSeq = 0;
/** A namespace of its own for each case. */
function freshNamespace(): string {
  return `ns-${++namespaceSeq}`;
}

/** A running run with a pending workflow task. */
async function runWithTask(
  q: Queryable,
  namespace: string,
  overrides: Partial<RunRow> & { visibleAt?: number } = {},
): Promise<RunRow> {
  const { visibleAt = NOW, ...runOverrides } = overrides;
  const run = runRow(namespace, runOverrides);
  await insertRun(q, run);
  await insertWorkflowTask(q, { ...run, visibleAt });
  return run;
}

function activityTask(
  run: RunRow,
  scheduledEventId: number,
  overrides: Partial<NewActivityTask> = {},
): NewActivityTask {
  return {
    namespace: run.namespace,
    runId: run.runId,
    scheduledEventId,
    workflowId: run.workflowId,
    workflowType: run.workflowType,
    activityId: String(scheduledEventId),
    activityType: 'charge',
    taskQueue: 'q',
    input: [{ encoding: 'json/plain', data: { amount: 12.5, currency: 'EUR' } }],
    scheduledAt: NOW,
    visibleAt: NOW,
    scheduleToStartMs: null,
    startToCloseMs: 60_000,
    scheduleToCloseMs: null,
    heartbeatMs: null,
    retryPolicy: { initialIntervalMs: 1000, backoffCoefficient: 2, maximumAttempts: 5 },
    ...overrides,
  };
}

async function rejectionOf(promise: Promise<unknown>): Promise<unknown> {
  try {
    await promise;
  } catch (error) {
    return error;
  }
  throw new Error('expected the operation to fail');
}

/**
 * Runs `first` in a transaction and keeps that transaction open while
 * `second` runs in another one, so `second` meets the row locks `first`
 * took. Fails (instead of hanging) if `second` waits for `first`.
 */
async function whileHoldingLocks<T>(
  db: Db,
  first: (tx: Queryable) => Promise<T>,
  second: (tx: Queryable) => Promise<T>,
): Promise<[T, T]> {
  let release!: () => void;
  const released = new Promise<void>((resolve) => {
    release = resolve;
  });
  let firstDone!: (value: T) => void;
  const firstResult = new Promise<T>((resolve) => {
    firstDone = resolve;
  });
  const holding = db.transaction(async (tx) => {
    firstDone(await first(tx));
    await released;
  });
  try {
    const a = await firstResult;
    let timer: ReturnType<typeof setTimeout> | undefined;
    const blocked = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Error('the second transaction waited for the first one’s locks')), 5000);
    });
    try {
      const b = await Promise.race([db.transaction(second), blocked]);
      return [a, b];
    } finally {
      clearTimeout(timer);
    }
  } finally {
    release();
    await holding;
  }
}

describe.skipIf(skip)(`store conformance (${BACKEND})`, () => {
  describe('migrations', () => {
    it('apply every migration once; a second migrate is a no-op', async () => {
      const { db, close } = await openUnmigrated();
      try {
        const versions = listMigrations().map((m) => m.version);
        expect(versions.length).toBeGreaterThan(0);
        expect(await migrate(db)).toEqual(versions);
        const tables = await db.query<{ table_name: string }>(
          `SELECT table_name FROM information_schema.tables WHERE table_schema = 'public' ORDER BY table_name`,
        );
        expect(tables.map((t) => t.table_name)).toEqual(
          expect.arrayContaining([
            'activity_tasks',
            'history_events',
            'pollers',
            'runs',
            'tideway_migrations',
            'timers',
            'workflow_tasks',
          ]),
        );
        expect(await migrate(db)).toEqual([]);
        const recorded = await db.query<{ version: number; name: string }>(
          'SELECT version, name FROM tideway_migrations ORDER BY version',
        );
        expect(recorded).toEqual(listMigrations().map((m) => ({ version: m.version, name: m.name })));
      } finally {
        await close();
      }
    });

    it('lets migrations race: exactly one applies them, the others find nothing to do', async () => {
      const { connect, close } = await openUnmigrated();
      try {
        // On PostgreSQL: four servers on four pools; on PGlite: one Db, four concurrent calls.
        const handles = await Promise.all([connect(), connect(), connect(), connect()]);
        const results = await Promise.all(handles.map((h) => migrate(h)));
        const versions = listMigrations().map((m) => m.version);
        expect(results.filter((r) => r.length > 0)).toEqual([versions]);
        expect(results.filter((r) => r.length === 0)).toHaveLength(handles.length - 1);
        const [{ count }] = (await handles[0]!.query<{ count: number }>(
          'SELECT count(*)::int AS count FROM tideway_migrations',
        )) as [{ count: number }];
        expect(count).toBe(versions.length);
      } finally {
        await close();
      }
    });
  });

  describe('on a shared database', () => {
    let db: Db;
    let close: () => Promise<void>;
    beforeAll(async () => {
      ({ db, close } = await openFresh());
    });
    afterAll(async () => {
      await close?.();
    });

    describe('history', () => {
      const tricky = `quote " backslash \\ braces {} [] comma, newline\n tab\t unicode é 漢字 🌊 'single'`;
      const events: HistoryEvent[] = [
        {
          eventId: 1,
          type: 'WorkflowExecutionStarted',
          timestamp: NOW,
          attributes: {
            workflowType: 'orderWorkflow',
            taskQueue: 'q',
            input: [
              {
                encoding: 'json/plain',
                data: { nested: { deep: [1, 2.5, -3, true, null, { s: tricky }] }, empty: {} },
              },
            ],
            workflowTaskTimeoutMs: 10_000,
          },
        },
        { eventId: 2, type: 'WorkflowTaskScheduled', timestamp: NOW, attributes: { taskQueue: tricky } },
        {
          eventId: 3,
          type: 'WorkflowTaskCompleted',
          timestamp: NOW + 5,
          attributes: { seenUpToEventId: 2, taskTime: NOW + 1, identity: 'worker-1', attempt: 1 },
        },
        {
          eventId: 4,
          type: 'TimerStarted',
          timestamp: NOW + 5,
          attributes: { timerId: '1', durationMs: 86_400_000, fireAt: NOW + 5 + 86_400_000 },
        },
        {
          eventId: 5,
          type: 'WorkflowExecutionFailed',
          timestamp: NOW + 86_400_010,
          attributes: {
            failure: { message: tricky, type: 'Error', cause: { message: 'inner', type: 'TypeError', stack: 'at x' } },
          },
        },
      ];

      it('round-trips events: order, numbering, timestamps and jsonb attributes intact', async () => {
        const ns = freshNamespace();
        await appendEvents(db, ns, 'run-1', events.slice(0, 3));
        await appendEvents(db, ns, 'run-1', events.slice(3));
        expect(await readEvents(db, ns, 'run-1', 1, 100)).toEqual(events);
      });

      it('pages by fromEventId and limit', async () => {
        const ns = freshNamespace();
        await appendEvents(db, ns, 'run-1', events);
        const ids = async (from: number, limit: number) =>
          (await readEvents(db, ns, 'run-1', from, limit)).map((e) => e.eventId);
        expect(await ids(1, 2)).toEqual([1, 2]);
        expect(await ids(3, 2)).toEqual([3, 4]);
        expect(await ids(5, 2)).toEqual([5]);
        expect(await ids(6, 2)).toEqual([]);
        expect(await ids(2, 1000)).toEqual([2, 3, 4, 5]);
      });

      it('keeps runs and namespaces apart', async () => {
        const ns = freshNamespace();
        const other = freshNamespace();
        await appendEvents(db, ns, 'run-1', events.slice(0, 2));
        await appendEvents(db, ns, 'run-2', events.slice(0, 1));
        await appendEvents(db, other, 'run-1', events);
        expect((await readEvents(db, ns, 'run-1', 1, 100)).map((e) => e.eventId)).toEqual([1, 2]);
        expect((await readEvents(db, ns, 'run-2', 1, 100)).map((e) => e.eventId)).toEqual([1]);
        expect(await readEvents(db, ns, 'run-3', 1, 100)).toEqual([]);
      });

      it('rejects a duplicate event id by primary key, appending none of the batch', async () => {
        const ns = freshNamespace();
        await appendEvents(db, ns, 'run-1', events.slice(0, 2));
        const error = await rejectionOf(appendEvents(db, ns, 'run-1', events.slice(1, 4)));
        expect(isUniqueViolation(error)).toBe(true);
        expect((await readEvents(db, ns, 'run-1', 1, 100)).map((e) => e.eventId)).toEqual([1, 2]);
        await appendEvents(db, ns, 'run-1', []);
        expect(await readEvents(db, ns, 'run-1', 1, 100)).toHaveLength(2);
      });
    });

    describe('runs', () => {
      it('advanceRun with a stale next event id fails with RUN_MOVED_CONCURRENTLY and changes nothing', async () => {
        const ns = freshNamespace();
        const run = runRow(ns, { nextEventId: 5, seenUpToEventId: 2 });
        await insertRun(db, run);
        const before = await findRun(db, ns, run.workflowId, run.runId);
        expect(before).toEqual(run);

        const stale = await rejectionOf(
          advanceRun(db, ns, run.runId, 4, {
            nextEventId: 9,
            seenUpToEventId: 4,
            status: 'completed',
            closeTime: NOW + 1,
            result: { encoding: 'json/plain', data: 'stale' },
          }),
        );
        expect(isRunMovedConcurrently(stale)).toBe(true);
        expect((stale as Error).message).toContain(`run ${run.runId} changed concurrently`);
        expect(await findRun(db, ns, run.workflowId, run.runId)).toEqual(before);
        expect(
          isRunMovedConcurrently(await rejectionOf(advanceRun(db, ns, 'no-such-run', 5, { nextEventId: 6 }))),
        ).toBe(true);
      });

      it('a stale advanceRun held back in a transaction fails it whole, whatever was sent with it', async () => {
        const scheduled = (eventId: number): HistoryEvent => ({
          eventId,
          type: 'WorkflowTaskScheduled',
          timestamp: NOW,
          attributes: { taskQueue: 'q' },
        });
        const ns = freshNamespace();
        const run = runRow(ns, { nextEventId: 5 });
        await insertRun(db, run);
        const failed = await rejectionOf(
          db.transaction(async (tx) => {
            await appendEvents(tx, ns, run.runId, [scheduled(5)]);
            await advanceRun(tx, ns, run.runId, 3, { nextEventId: 6 });
            await appendEvents(tx, ns, run.runId, [scheduled(6)]);
          }),
        );
        expect(isRunMovedConcurrently(failed)).toBe(true);
        expect(await readEvents(db, ns, run.runId, 1, 100)).toEqual([]);
        expect((await findRun(db, ns, run.workflowId, run.runId))?.nextEventId).toBe(5);
      });

      it('advanceRun with the current next event id moves the run and keeps what it does not change', async () => {
        const ns = freshNamespace();
        const run = runRow(ns, { nextEventId: 5, seenUpToEventId: 2 });
        await insertRun(db, run);
        await advanceRun(db, ns, run.runId, 5, { nextEventId: 7 });
        expect(await findRun(db, ns, run.workflowId)).toMatchObject({ nextEventId: 7, seenUpToEventId: 2 });
        // The same expectation again is stale now.
        expect(isRunMovedConcurrently(await rejectionOf(advanceRun(db, ns, run.runId, 5, { nextEventId: 8 })))).toBe(
          true,
        );

        const failure = {
          message: 'failed',
          type: 'Boom',
          details: [{ encoding: 'json/plain', data: [1, { a: null }] }],
        };
        await advanceRun(db, ns, run.runId, 7, {
          nextEventId: 9,
          seenUpToEventId: 6,
          status: 'failed',
          closeTime: NOW + 100,
          failure,
        });
        expect(await findRun(db, ns, run.workflowId, run.runId)).toEqual({
          ...run,
          nextEventId: 9,
          seenUpToEventId: 6,
          status: 'failed',
          closeTime: NOW + 100,
          failure,
        });
      });

      it('allows one running run per workflow id, and a new one once the first is closed', async () => {
        const ns = freshNamespace();
        const first = runRow(ns, { workflowId: 'order-1', startTime: NOW });
        await insertRun(db, first);
        const second = runRow(ns, { workflowId: 'order-1', startTime: NOW + 10 });
        expect(isUniqueViolation(await rejectionOf(insertRun(db, second)))).toBe(true);

        // Another namespace, or a closed run, does not count.
        await insertRun(db, runRow(freshNamespace(), { workflowId: 'order-1' }));
        await insertRun(db, runRow(ns, { workflowId: 'order-1', status: 'failed', startTime: NOW - 10 }));

        await advanceRun(db, ns, first.runId, first.nextEventId, { nextEventId: 4, status: 'completed' });
        await insertRun(db, second);
        expect((await findRun(db, ns, 'order-1'))?.runId).toBe(second.runId);
        const third = runRow(ns, { workflowId: 'order-1', startTime: NOW + 20 });
        expect(isUniqueViolation(await rejectionOf(insertRun(db, third)))).toBe(true);
      });

      it('listRuns pages newest first with a keyset cursor, each matching run exactly once', async () => {
        const ns = freshNamespace();
        const runs: RunRow[] = [];
        for (let i = 0; i < 23; i++) {
          runs.push(
            runRow(ns, {
              workflowId: `order-${i}`,
              workflowType: i % 2 === 0 ? 'orderWorkflow' : 'refundWorkflow',
              status: (['running', 'completed', 'failed'] as const)[i % 3]!,
              // Runs started in the same millisecond: the cursor must break ties by run id.
              startTime: NOW + Math.floor(i / 4),
            }),
          );
        }
        for (const run of runs) await insertRun(db, run);
        await insertRun(db, runRow(freshNamespace(), { workflowId: 'order-0' }));

        const filters: RunFilter[] = [
          {},
          { status: 'running' },
          { workflowType: 'refundWorkflow' },
          { status: 'completed', workflowType: 'orderWorkflow' },
          { workflowId: 'order-7' },
          { status: 'terminated' },
        ];
        for (const filter of filters) {
          const expected = runs
            .filter(
              (r) =>
                (!filter.status || r.status === filter.status) &&
                (!filter.workflowType || r.workflowType === filter.workflowType) &&
                (!filter.workflowId || r.workflowId === filter.workflowId),
            )
            .sort((a, b) => b.startTime - a.startTime || (a.runId < b.runId ? 1 : -1))
            .map((r) => r.runId);
          for (const pageSize of [1, 4, 100]) {
            const seen: string[] = [];
            let after: RunFilter['after'];
            for (let page = 0; page < 30; page++) {
              const rows = await listRuns(db, ns, { ...filter, after }, pageSize);
              seen.push(...rows.map((r) => r.runId));
              const last = rows.at(-1);
              if (rows.length < pageSize || !last) break;
              after = { startTime: last.startTime, runId: last.runId };
            }
            expect(seen, `filter ${JSON.stringify(filter)}, page size ${pageSize}`).toEqual(expected);
          }
        }
      });
    });

    describe('workflow tasks', () => {
      const claim = (q: Queryable, ns: string, now: number, types = ['orderWorkflow'], taskQueue = 'q') =>
        claimWorkflowTask(q, { namespace: ns, taskQueue, types, now, leaseId: randomUUID() });

      it('claims up to a batch of visible tasks in one statement, oldest first, never one another claim holds', async () => {
        const ns = freshNamespace();
        const runs = [];
        // Longer task timeouts for older tasks: the order must be by age, not by when the new leases expire.
        for (const age of [1, 4, 3, 2]) {
          runs.push(await runWithTask(db, ns, { visibleAt: NOW - age, workflowTaskTimeoutMs: 10_000 * age }));
        }
        await runWithTask(db, ns, { visibleAt: NOW + 1000 }); // backing off: not yet
        const batch = await db.transaction((tx) =>
          claimWorkflowTasks(tx, {
            namespace: ns,
            taskQueue: 'q',
            types: ['orderWorkflow'],
            now: NOW,
            leaseId: 'L',
            limit: 3,
          }),
        );
        expect(batch.map((t) => t.runId)).toEqual([runs[1]!.runId, runs[2]!.runId, runs[3]!.runId]);
        expect(batch.every((t) => t.leaseId === 'L' && t.leasedAt === NOW)).toBe(true);
        const rest = await db.transaction((tx) =>
          claimWorkflowTasks(tx, {
            namespace: ns,
            taskQueue: 'q',
            types: ['orderWorkflow'],
            now: NOW,
            leaseId: 'M',
            limit: 10,
          }),
        );
        expect(rest.map((t) => t.runId)).toEqual([runs[0]!.runId]);
        expect(await claim(db, ns, NOW)).toBeUndefined();
      });

      it('claims the oldest visible task and leases it until the workflow task timeout', async () => {
        const ns = freshNamespace();
        const newer = await runWithTask(db, ns, { visibleAt: NOW - 5 });
        const older = await runWithTask(db, ns, {
          visibleAt: NOW - 10,
          nextEventId: 8,
          seenUpToEventId: 4,
          workflowTaskTimeoutMs: 3000,
        });
        const leaseId = randomUUID();
        const row = await db.transaction((tx) =>
          claimWorkflowTask(tx, { namespace: ns, taskQueue: 'q', types: ['orderWorkflow'], now: NOW, leaseId }),
        );
        expect(row).toEqual({
          namespace: ns,
          runId: older.runId,
          workflowId: older.workflowId,
          workflowType: 'orderWorkflow',
          taskQueue: 'q',
          attempt: 1,
          visibleAt: NOW + 3000,
          leaseId,
          leasedAt: NOW,
          lastEventIdAtLease: 7,
          lastFailure: null,
          speculative: false,
          updatesPending: false,
          nextEventId: 8,
          seenUpToEventId: 4,
          leaseExpired: false,
          // The run as the claim read it, for the completion to go on (engine/known-runs.ts).
          run: { ...(await findRunById(db, ns, older.runId)), bufferedSignals: undefined },
        });
        expect((await claim(db, ns, NOW))?.runId).toBe(newer.runId);
        expect(await claim(db, ns, NOW)).toBeUndefined();
      });

      it('hands out only tasks of the types, queue and namespace asked for', async () => {
        const ns = freshNamespace();
        const order = await runWithTask(db, ns, { workflowType: 'orderWorkflow', visibleAt: NOW - 100 });
        const refund = await runWithTask(db, ns, { workflowType: 'refundWorkflow' });
        await runWithTask(db, ns, { workflowType: 'refundWorkflow', taskQueue: 'other' });
        await runWithTask(db, freshNamespace(), { workflowType: 'refundWorkflow' });

        expect((await claim(db, ns, NOW, ['refundWorkflow', 'unknown']))?.runId).toBe(refund.runId);
        expect(await claim(db, ns, NOW, ['refundWorkflow'])).toBeUndefined();
        expect(await claim(db, ns, NOW, ['shipWorkflow'])).toBeUndefined();
        expect((await claim(db, ns, NOW, ['orderWorkflow']))?.runId).toBe(order.runId);
      });

      it('does not hand out a task before its visible_at', async () => {
        const ns = freshNamespace();
        const run = await runWithTask(db, ns, { visibleAt: NOW + 1000 });
        expect(await claim(db, ns, NOW)).toBeUndefined();
        expect(await nextWorkflowTaskVisibleAt(db, ns, 'q', NOW)).toEqual({ at: NOW + 1000, visibleNow: false });
        expect(await claim(db, ns, NOW + 999)).toBeUndefined();
        expect((await claim(db, ns, NOW + 1000))?.runId).toBe(run.runId);
        // Leased: invisible until the lease expires.
        expect(await nextWorkflowTaskVisibleAt(db, ns, 'q', NOW + 1000)).toEqual({
          at: NOW + 1000 + run.workflowTaskTimeoutMs,
          visibleNow: false,
        });
      });

      it('a claim that looks at the queue after itself sees its own leases and what it left', async () => {
        const ns = freshNamespace();
        const first = await runWithTask(db, ns, { visibleAt: NOW - 2 });
        await runWithTask(db, ns, { visibleAt: NOW - 1 });
        const claimAndLook = (limit: number) =>
          db.transaction((tx) =>
            claimWorkflowTasksAndLook(tx, {
              namespace: ns,
              taskQueue: 'q',
              types: ['orderWorkflow'],
              now: NOW,
              leaseId: randomUUID(),
              limit,
            }),
          );
        const leaseEnds = NOW + first.workflowTaskTimeoutMs;
        const one = await claimAndLook(1);
        expect(one.rows.map((r) => r.runId)).toEqual([first.runId]);
        expect(one.queueAfter).toEqual({ at: leaseEnds, visibleNow: true });
        const rest = await claimAndLook(5);
        expect(rest.rows).toHaveLength(1);
        expect(rest.queueAfter).toEqual({ at: leaseEnds, visibleNow: false });
      });

      it('hands out a task again when its lease expired, as a new attempt', async () => {
        const ns = freshNamespace();
        const run = await runWithTask(db, ns, { workflowTaskTimeoutMs: 5000 });
        const first = await claim(db, ns, NOW);
        expect(first).toMatchObject({ attempt: 1, visibleAt: NOW + 5000 });
        expect(await claim(db, ns, NOW + 4999)).toBeUndefined();
        const second = await claim(db, ns, NOW + 5000);
        expect(second).toMatchObject({ runId: run.runId, attempt: 2, leasedAt: NOW + 5000, visibleAt: NOW + 10_000 });
        expect(second?.leaseId).not.toBe(first?.leaseId);
        expect(await getWorkflowTask(db, ns, run.runId)).toMatchObject({ attempt: 2, leaseId: second?.leaseId });
      });

      it('counts a failed-and-retried task’s attempt once, not again when it is claimed', async () => {
        const ns = freshNamespace();
        const run = await runWithTask(db, ns);
        await claim(db, ns, NOW);
        const failure = { message: 'nondeterminism', type: 'NonDeterminismError' };
        await retryWorkflowTask(db, { namespace: ns, runId: run.runId, visibleAt: NOW + 1000, failure });
        expect(await getWorkflowTask(db, ns, run.runId)).toMatchObject({
          attempt: 2,
          leaseId: null,
          leasedAt: null,
          visibleAt: NOW + 1000,
          lastFailure: failure,
        });
        expect(await claim(db, ns, NOW + 999)).toBeUndefined();
        expect(await claim(db, ns, NOW + 1000)).toMatchObject({ attempt: 2, lastFailure: failure });
      });

      it('gives concurrent claims different tasks', async () => {
        const ns = freshNamespace();
        const runs = await Promise.all([1, 2, 3, 4].map(() => runWithTask(db, ns)));
        await runWithTask(db, ns, { workflowType: 'refundWorkflow', visibleAt: NOW - 1000 });
        const claimed = await Promise.all(
          [1, 2, 3, 4, 5].map(() => db.transaction((tx) => claim(tx, ns, NOW, ['orderWorkflow']))),
        );
        const ids = claimed.flatMap((row) => (row ? [row.runId] : []));
        expect(ids.sort()).toEqual(runs.map((r) => r.runId).sort());
        expect(claimed.filter((row) => row === undefined)).toHaveLength(1);
      });

      it.skipIf(BACKEND !== 'postgres')(
        'skips a task another open transaction has locked instead of waiting for it',
        async () => {
          const ns = freshNamespace();
          await runWithTask(db, ns, { workflowType: 'refundWorkflow', visibleAt: NOW - 1000 });
          const a = await runWithTask(db, ns, { visibleAt: NOW - 2 });
          const b = await runWithTask(db, ns, { visibleAt: NOW - 1 });
          const [first, second] = await whileHoldingLocks(
            db,
            (tx) => claim(tx, ns, NOW),
            (tx) => claim(tx, ns, NOW),
          );
          expect(first?.runId).toBe(a.runId);
          expect(second?.runId).toBe(b.runId);

          // With nothing else visible, the second claimer gets nothing, at once.
          const ns2 = freshNamespace();
          const only = await runWithTask(db, ns2);
          const [held, none] = await whileHoldingLocks(
            db,
            (tx) => claim(tx, ns2, NOW),
            (tx) => claim(tx, ns2, NOW),
          );
          expect(held?.runId).toBe(only.runId);
          expect(none).toBeUndefined();
        },
      );
    });

    describe('activity tasks', () => {
      const claim = (q: Queryable, ns: string, now: number, types = ['charge']) =>
        claimActivityTask(q, { namespace: ns, taskQueue: 'q', types, now, leaseId: randomUUID() });

      it('a claim that looks at the queue after itself sees what it left (leased attempts never come back by time)', async () => {
        const ns = freshNamespace();
        const run = runRow(ns);
        await insertRun(db, run);
        await insertActivityTasks(db, [
          activityTask(run, 5, { scheduledAt: NOW - 2 }),
          activityTask(run, 6, { scheduledAt: NOW - 1 }),
        ]);
        const claimAndLook = (limit: number) =>
          db.transaction((tx) =>
            claimActivityTasksAndLook(tx, {
              namespace: ns,
              taskQueue: 'q',
              types: ['charge'],
              now: NOW,
              leaseId: randomUUID(),
              limit,
            }),
          );
        const one = await claimAndLook(1);
        expect(one.rows).toHaveLength(1);
        expect(one.queueAfter).toEqual({ at: undefined, visibleNow: true });
        const rest = await claimAndLook(5);
        expect(rest.rows).toHaveLength(1);
        expect(rest.queueAfter).toEqual({ at: undefined, visibleNow: false });
      });

      it('claims a batch of visible activities of registered types, oldest scheduled first', async () => {
        const ns = freshNamespace();
        const run = runRow(ns);
        await insertRun(db, run);
        await insertActivityTasks(db, [
          activityTask(run, 5, { scheduledAt: NOW - 3 }),
          activityTask(run, 6, { scheduledAt: NOW - 9, activityType: 'ship' }),
          activityTask(run, 7, { scheduledAt: NOW - 5, activityType: 'refund' }), // not registered
          activityTask(run, 8, { scheduledAt: NOW - 1, visibleAt: NOW + 500 }), // backing off
        ]);
        const batch = await db.transaction((tx) =>
          claimActivityTasks(tx, {
            namespace: ns,
            taskQueue: 'q',
            types: ['charge', 'ship'],
            now: NOW,
            leaseId: 'L',
            limit: 10,
          }),
        );
        expect(batch.map((t) => t.scheduledEventId)).toEqual([6, 5]);
        expect(batch.every((t) => t.leaseId === 'L' && t.visibleAt === NEVER)).toBe(true);
      });

      it('claims a visible activity of a registered type and hides it (visible_at = NEVER) while leased', async () => {
        const ns = freshNamespace();
        const run = runRow(ns);
        await insertRun(db, run);
        const charge = activityTask(run, 5, { visibleAt: NOW - 1 });
        const ship = activityTask(run, 6, { activityType: 'ship' });
        await insertActivityTasks(db, [charge, ship]);

        expect(await claim(db, ns, NOW, ['refund'])).toBeUndefined();
        const leaseId = randomUUID();
        const row = await db.transaction((tx) =>
          claimActivityTask(tx, { namespace: ns, taskQueue: 'q', types: ['charge', 'ship'], now: NOW, leaseId }),
        );
        expect(row).toEqual({
          ...charge,
          attempt: 1,
          visibleAt: NEVER,
          leaseId,
          startedAt: NOW,
          heartbeatDetails: null,
          lastHeartbeatAt: null,
          lastFailure: null,
          cancelRequested: false,
        });
        expect(await getActivityTask(db, ns, run.runId, 5)).toEqual(row);
        expect(await claim(db, ns, NOW + 365 * 86_400_000)).toBeUndefined();
        // Nothing becomes visible later; 'ship' (a type this poller lacks) is visible now.
        expect(await nextActivityTaskVisibleAt(db, ns, 'q', NOW)).toEqual({ at: undefined, visibleNow: true });
        expect((await claim(db, ns, NOW, ['ship']))?.scheduledEventId).toBe(6);
      });

      it('hands out a retried activity at its new visible_at, as the next attempt', async () => {
        const ns = freshNamespace();
        const run = runRow(ns);
        await insertRun(db, run);
        await insertActivityTasks(db, [activityTask(run, 5)]);
        await claim(db, ns, NOW);
        const failure = { message: 'connection reset', type: 'ECONNRESET' };
        await retryActivityTask(db, {
          namespace: ns,
          runId: run.runId,
          scheduledEventId: 5,
          visibleAt: NOW + 2000,
          failure,
        });
        expect(await claim(db, ns, NOW + 1999)).toBeUndefined();
        expect(await nextActivityTaskVisibleAt(db, ns, 'q', NOW)).toEqual({ at: NOW + 2000, visibleNow: false });
        expect(await claim(db, ns, NOW + 2000)).toMatchObject({
          attempt: 2,
          startedAt: NOW + 2000,
          visibleAt: NEVER,
          lastFailure: failure,
        });
      });

      it('gives concurrent claims different activities', async () => {
        const ns = freshNamespace();
        const run = runRow(ns);
        await insertRun(db, run);
        await insertActivityTasks(
          db,
          [5, 6, 7].map((id) => activityTask(run, id)),
        );
        const claimed = await Promise.all([1, 2, 3, 4].map(() => db.transaction((tx) => claim(tx, ns, NOW))));
        expect(claimed.flatMap((r) => (r ? [r.scheduledEventId] : [])).sort()).toEqual([5, 6, 7]);
      });

      it.skipIf(BACKEND !== 'postgres')('skips an activity another open transaction has locked', async () => {
        const ns = freshNamespace();
        const run = runRow(ns);
        await insertRun(db, run);
        await insertActivityTasks(db, [activityTask(run, 5, { visibleAt: NOW - 1 }), activityTask(run, 6)]);
        const [first, second] = await whileHoldingLocks(
          db,
          (tx) => claim(tx, ns, NOW),
          (tx) => claim(tx, ns, NOW),
        );
        expect([first?.scheduledEventId, second?.scheduledEventId]).toEqual([5, 6]);
      });
    });
  });

  describe('timers', () => {
    // claimDueTimers and nextTimerDueAt look across all namespaces, so these cases get a database of their own.
    let db: Db;
    let close: () => Promise<void>;
    beforeAll(async () => {
      ({ db, close } = await openFresh());
    });
    afterAll(async () => {
      await close?.();
    });

    const claimDueTimer = async (q: Queryable, now: number) => (await claimDueTimers(q, now, 1))[0];
    const timer = (overrides: Partial<TimerRow>): TimerRow => ({
      namespace: 'ns',
      runId: 'run-1',
      timerKey: 'timer/1',
      kind: 'user-timer',
      dueAt: NOW,
      data: { timerId: '1', startedEventId: 5 },
      ...overrides,
    });

    it('claims only due timers, earliest first, and reports the nearest due time', async () => {
      expect(await nextTimerDueAt(db)).toBeUndefined();
      expect(await claimDueTimer(db, NOW)).toBeUndefined();

      const late = timer({ namespace: 'a', timerKey: 'timer/late', dueAt: NOW + 100 });
      const due = timer({ namespace: 'b', timerKey: 'timer/due', dueAt: NOW });
      const overdue = timer({
        namespace: 'c',
        timerKey: 'activity/7',
        kind: 'activity-timeout',
        dueAt: NOW - 10,
        data: { scheduledEventId: 7, nested: { list: [1, 'two'] } },
      });
      for (const t of [late, due, overdue]) await upsertTimer(db, t);
      expect(await nextTimerDueAt(db)).toBe(NOW - 10);

      expect(await db.transaction((tx) => claimDueTimer(tx, NOW))).toEqual(overdue);
      await deleteTimer(db, overdue.namespace, overdue.runId, overdue.timerKey);
      expect(await db.transaction((tx) => claimDueTimer(tx, NOW))).toEqual(due);
      await deleteTimer(db, due.namespace, due.runId, due.timerKey);
      expect(await claimDueTimer(db, NOW)).toBeUndefined();
      expect(await claimDueTimer(db, NOW + 99)).toBeUndefined();
      expect(await nextTimerDueAt(db)).toBe(NOW + 100);
      expect(await claimDueTimer(db, NOW + 100)).toEqual(late);
      await deleteTimer(db, late.namespace, late.runId, late.timerKey);
      expect(await nextTimerDueAt(db)).toBeUndefined();
    });

    it('moves an existing timer on upsert with the same key', async () => {
      await upsertTimer(db, timer({ dueAt: NOW + 500 }));
      await upsertTimer(db, timer({ dueAt: NOW + 50, data: { moved: true } }));
      expect(await nextTimerDueAt(db)).toBe(NOW + 50);
      expect(await claimDueTimer(db, NOW + 50)).toEqual(timer({ dueAt: NOW + 50, data: { moved: true } }));
      await deleteTimer(db, 'ns', 'run-1', 'timer/1');
      expect(await nextTimerDueAt(db)).toBeUndefined();
    });

    it('claims due timers in batches of at most the limit, earliest first, and one by its key while due', async () => {
      const due = [3, 1, 4, 2].map((i) => timer({ timerKey: `timer/${i}`, dueAt: NOW - 10 + i }));
      const later = timer({ timerKey: 'timer/later', dueAt: NOW + 1 });
      for (const t of [...due, later]) await upsertTimer(db, t);
      const batch = await db.transaction((tx) => claimDueTimers(tx, NOW, 3));
      expect(batch.map((t) => t.timerKey)).toEqual(['timer/1', 'timer/2', 'timer/3']);
      expect((await claimDueTimers(db, NOW, 10)).map((t) => t.timerKey)).toEqual([
        'timer/1',
        'timer/2',
        'timer/3',
        'timer/4',
      ]);
      expect(await claimTimer(db, later, NOW)).toBeUndefined(); // not due yet
      expect(await claimTimer(db, later, NOW + 1)).toEqual(later);
      for (const t of [...due, later]) await deleteTimer(db, t.namespace, t.runId, t.timerKey);
      expect(await claimTimer(db, later, NOW + 1)).toBeUndefined(); // gone
    });

    it.skipIf(BACKEND !== 'postgres')('lets two servers fire different due timers at once', async () => {
      await upsertTimer(db, timer({ timerKey: 'timer/x', dueAt: NOW - 2 }));
      await upsertTimer(db, timer({ timerKey: 'timer/y', dueAt: NOW - 1 }));
      const [first, second] = await whileHoldingLocks(
        db,
        (tx) => claimDueTimer(tx, NOW),
        (tx) => claimDueTimer(tx, NOW),
      );
      expect([first?.timerKey, second?.timerKey]).toEqual(['timer/x', 'timer/y']);
      await deleteTimer(db, 'ns', 'run-1', 'timer/x');
      await deleteTimer(db, 'ns', 'run-1', 'timer/y');
    });
  });
});
