import { type FireTimerRequest, FireTimerRequestSchema, type FireTimerResponse } from '../protocol/index.js';
import {
  lockRunStatement,
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
import { checkNamespace, deliverToWorkflow, type EngineContext } from './context.js';
import { forgetAfterCommit } from './known-runs.js';
import { parseRequest } from './parse.js';

/*
 * A worker's own wake-up for a timer of a run it holds in memory. The worker
 * promised it when it completed the task that started the timer
 * (`wakesTimers`), so the engine's timer service gives it a grace period
 * (TIMER_WAKE_GRACE_MS) before firing the timer itself. The worker sets its
 * clock for the timer's duration from when the completion was answered,
 * which is after the engine set the due time, so the timer is due by the
 * time it reports, whatever the two machines' clocks say; the engine still
 * checks its own clock and answers `not-due` if it disagrees.
 *
 * Firing here instead of in the timer service saves the service's wake-up
 * and the worker's poll for the task, and with `next` (the task run ahead,
 * as for an activity result) the fire, the task and its completion are one
 * transaction.
 */
export async function fireTimer(
  ctx: EngineContext,
  namespace: string,
  raw: FireTimerRequest,
): Promise<FireTimerResponse> {
  checkNamespace(namespace);
  const request = parseRequest(FireTimerRequestSchema, raw, 'timer wake-up');
  const receivedAt = ctx.clock.now();
  const ahead = request.next && isRecordable(ctx, request.next) ? request.next : undefined;
  const timerKey = userTimerKey(request.timerId);
  return ctx.knownRuns.inTurn(namespace, request.runId, async () => {
    const fired = await ctx.transition(async (tx, notify): Promise<FireTimerResponse | 'not-taken'> => {
      const now = ctx.clock.now();
      // The run's lock, then the timer's row (taken only if due), then the run's workflow task: one round trip.
      const [runs, timers, tasks] = (await queryEach(tx, [
        lockRunStatement(namespace, request.runId),
        takeDueUserTimerStatement(namespace, request.runId, timerKey, now),
        workflowTaskStatement(namespace, request.runId),
      ])) as [RunRow[], TakenTimer[], WorkflowTaskRow[]];
      const run = runs[0];
      const timer = timers[0];
      if (run?.status !== 'running') return { outcome: 'gone' };
      if (!timer) return 'not-taken';
      forgetAfterCommit(tx, run);
      const event = {
        type: 'TimerFired' as const,
        attributes: { timerId: request.timerId, startedEventId: Number(timer.data.startedEventId) },
      };
      const existingTask = tasks[0] ?? null;
      // The task the fired timer creates runs no earlier than the timer was due.
      if (ahead && ahead.taskTime >= timer.fireAt && sawWholeHistory(run, existingTask, ahead, now)) {
        const recorded = await recordEventWithNextTask(
          ctx,
          tx,
          run,
          event,
          { identity: request.identity, next: ahead, receivedAt },
          notify,
        );
        const { newEvents, activityTasks } = recorded;
        return {
          outcome: 'fired',
          next: {
            applied: true,
            ...(newEvents.length > 0 ? { newEvents } : {}),
            ...(activityTasks.length > 0 ? { activityTasks } : {}),
          },
        };
      }
      await deliverToWorkflow(ctx, tx, run, [event], notify, { existingTask });
      return { outcome: 'fired', ...(request.next ? { next: { applied: false } } : {}) };
    });
    if (fired !== 'not-taken') return fired;
    // Say whether it is merely not due yet by this clock (the worker's ran ahead of it), or gone.
    const fireAt = await userTimerFireAt(ctx.db, namespace, request.runId, timerKey);
    if (fireAt === undefined) return { outcome: 'gone' };
    return { outcome: 'not-due', dueInMs: Math.max(1, Math.ceil(fireAt - ctx.clock.now())) };
  });
}
