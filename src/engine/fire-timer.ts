import {
  type FireTimerRequest,
  FireTimerRequestSchema,
  type FireTimerResponse,
  type NextWorkflowTask,
} from '../protocol/index.js';
import {
  expectKnownRun,
  expectKnownTasks,
  expectKnownTimerTaken,
  lockRunStatement,
  type Queryable,
  queryEach,
  type RunRow,
  type TakenTimer,
  takeDueUserTimerStatement,
  userTimerFireAt,
  type WorkflowTaskRow,
  workflowTaskStatement,
} from '../store/index.js';
import { userTimerKey } from './apply-commands.js';
import { isRecordable, recordEventWithNextTask, sawWholeHistory } from './chained-workflow-task.js';
import { checkNamespace, deliverToWorkflow, type EngineContext, type Notify } from './context.js';
import { activitiesAfter, onKnownState, timersAfter } from './known-completion.js';
import { forgetAfterCommit, type KnownRun, type KnownTimer, knowAfterCommit } from './known-runs.js';
import { parseRequest } from './parse.js';
import type { RecordedCompletion } from './record-completion.js';
import { transitionTogether } from './transition-batches.js';

/**
 * How early by this engine's clock a timer report may come and still be
 * taken: it is held until the timer is due, then fires as if it had come
 * then. A worker's clock runs out at the due time by its own clock, and
 * clocks differ by a few milliseconds even under NTP (on one machine, not
 * at all); a report earlier than this is answered `not-due` instead.
 */
export const EARLY_REPORT_HOLD_MS = 100;

/*
 * A worker's own wake-up for a timer of a run it holds in memory. The worker
 * promised it when it completed the task that started the timer
 * (`wakesTimers`), so the engine's timer service gives it a grace period
 * (TIMER_WAKE_GRACE_MS) before firing the timer itself. The worker sets its
 * clock for the timer's due time by its own clock; the engine checks its
 * own, holds a report that comes a little early until due, and answers
 * `not-due` to one that comes earlier still. No timer fires early.
 *
 * Firing here instead of in the timer service saves the service's wake-up
 * and the worker's poll for the task, and with `next` (the task run ahead,
 * as for an activity result) the fire, the task and its completion are one
 * transaction. When this server committed the completion that started the
 * timer (and nothing since), that transaction is computed from what it
 * knows of the run and sent whole, behind guards, in a batch with other
 * completions (see known-runs.ts, transition-batches.ts): a burst of
 * timers falling due costs about what the burst of tasks that started them
 * did, not a read and a commit of its own per timer.
 */
export async function fireTimer(
  ctx: EngineContext,
  namespace: string,
  raw: FireTimerRequest,
): Promise<FireTimerResponse> {
  checkNamespace(namespace);
  const request = parseRequest(FireTimerRequestSchema, raw, 'timer wake-up');
  const ahead = request.next && isRecordable(ctx, request.next) ? request.next : undefined;
  const timerKey = userTimerKey(request.timerId);
  let receivedAt = ctx.clock.now();
  // Known to be a little early: held until due before anything is tried.
  await holdUntil(ctx.knownRuns.peek(namespace, request.runId)?.timers?.get(timerKey)?.fireAt);
  let fired = await attempt();
  if (fired !== 'not-taken') return fired;
  // Say whether it is merely not due yet by this clock (the worker's ran ahead of it), or gone; a little
  // early, it is held until due and tried once more.
  let fireAt = await userTimerFireAt(ctx.db, namespace, request.runId, timerKey);
  if (fireAt !== undefined && (await holdUntil(fireAt))) {
    fired = await attempt();
    if (fired !== 'not-taken') return fired;
    fireAt = await userTimerFireAt(ctx.db, namespace, request.runId, timerKey);
  }
  if (fireAt === undefined) return { outcome: 'gone' };
  return { outcome: 'not-due', dueInMs: Math.max(1, Math.ceil(fireAt - ctx.clock.now())) };

  /** Waits until `fireAt` by this engine's clock if that is near; true if it waited. */
  async function holdUntil(fireAt: number | undefined): Promise<boolean> {
    const early = fireAt === undefined ? 0 : fireAt - ctx.clock.now();
    if (early <= 0 || early > EARLY_REPORT_HOLD_MS) return false;
    // A millisecond more: a timeout may run up to one before its delay by a fine clock.
    await new Promise((resolve) => setTimeout(resolve, Math.ceil(early) + 1));
    return true;
  }

  function attempt(): Promise<FireTimerResponse | 'not-taken'> {
    // Taken after any hold: a timer the task run ahead starts counts from no earlier than this one fired.
    receivedAt = ctx.clock.now();
    return onKnownState(ctx, namespace, request.runId, (known) =>
      transitionTogether(
        ctx,
        'completions',
        { namespace, runId: request.runId },
        async (tx, notify): Promise<FireTimerResponse | 'not-taken'> => {
          const now = ctx.clock.now();
          const timer = known?.timers?.get(timerKey);
          if (known && timer && ahead && known.workflowTask === null && now >= timer.fireAt) {
            const run = known.run as RunRow;
            if (ahead.taskTime >= timer.fireAt && sawWholeHistory(run, null, ahead, now)) {
              return fireOnKnownState(tx, { ...known, run }, timer, ahead, notify);
            }
          }
          return fireOnReads(tx, notify);
        },
      ),
    );
  }

  /** The fired timer, the task it creates and that task's completion run ahead, recorded together. */
  async function recordWithNext(
    tx: Queryable,
    run: RunRow,
    startedEventId: number,
    next: NextWorkflowTask,
    notify: Notify,
  ): Promise<RecordedCompletion> {
    return recordEventWithNextTask(
      ctx,
      tx,
      run,
      { type: 'TimerFired', attributes: { timerId: request.timerId, startedEventId } },
      { identity: request.identity, next, receivedAt },
      notify,
    );
  }

  /**
   * Sent whole on what this engine knows of the run (see known-runs.ts): the
   * run and its lack of a workflow task are guarded, and the timer taken only
   * if it is the one known and due; one round trip, in a batch with other
   * completions. A guard that finds otherwise runs the fire again on reads.
   */
  async function fireOnKnownState(
    tx: Queryable,
    known: KnownRun & { run: RunRow },
    timer: KnownTimer,
    next: NextWorkflowTask,
    notify: Notify,
  ): Promise<FireTimerResponse> {
    const { run } = known;
    ctx.knownRuns.sent();
    await expectKnownRun(tx, run);
    await expectKnownTasks(tx, { namespace, runId: run.runId, workflowTask: null });
    await expectKnownTimerTaken(tx, { namespace, runId: run.runId, timerKey, ...timer }, ctx.clock.now());
    const recorded = await recordWithNext(tx, run, timer.startedEventId, next, notify);
    if (recorded.after) {
      knowAfterCommit(tx, {
        run,
        workflowTask: recorded.after.workflowTask,
        activities: activitiesAfter(known.activities, undefined, recorded.after.activities),
        timers: timersAfter(known.timers, timerKey, recorded.after.timers),
      });
    } else forgetAfterCommit(tx, run);
    return firedResponse(recorded);
  }

  /** Locks and reads the run, takes the timer if it is due, and records what follows. */
  async function fireOnReads(tx: Queryable, notify: Notify): Promise<FireTimerResponse | 'not-taken'> {
    const now = ctx.clock.now();
    // The run's lock, then the timer's row (taken only if due), then the run's workflow task: one round trip.
    const [runs, timers, tasks] = (await queryEach(tx, [
      lockRunStatement(namespace, request.runId),
      takeDueUserTimerStatement(namespace, request.runId, timerKey, now),
      workflowTaskStatement(namespace, request.runId),
    ])) as [RunRow[], TakenTimer[], WorkflowTaskRow[]];
    const run = runs[0];
    const taken = timers[0];
    if (run?.status !== 'running') return { outcome: 'gone' };
    if (!taken) return 'not-taken';
    forgetAfterCommit(tx, run);
    const startedEventId = Number(taken.data.startedEventId);
    const existingTask = tasks[0] ?? null;
    // The task the fired timer creates runs no earlier than the timer was due.
    if (ahead && ahead.taskTime >= taken.fireAt && sawWholeHistory(run, existingTask, ahead, now)) {
      return firedResponse(await recordWithNext(tx, run, startedEventId, ahead, notify));
    }
    const event = { type: 'TimerFired' as const, attributes: { timerId: request.timerId, startedEventId } };
    await deliverToWorkflow(ctx, tx, run, [event], notify, { existingTask });
    return { outcome: 'fired', ...(request.next ? { next: { applied: false } } : {}) };
  }
}

function firedResponse({ newEvents, activityTasks }: RecordedCompletion): FireTimerResponse {
  return {
    outcome: 'fired',
    next: {
      applied: true,
      ...(newEvents.length > 0 ? { newEvents } : {}),
      ...(activityTasks.length > 0 ? { activityTasks } : {}),
    },
  };
}
