import type { Failure } from '../protocol/index.js';
import {
  claimDueTimers,
  claimTimer,
  deleteTimer,
  getActivityTask,
  isLockNotAvailable,
  lockRun,
  nextTimerDueAt,
  type Queryable,
  type TimerRow,
} from '../store/index.js';
import { isRetryableTimeout, nextActivityDeadline } from './activity-deadline.js';
import { rescheduleActivityTimer } from './activity-dispatch.js';
import { finishActivity, retryOrFailActivity } from './activity-tasks.js';
import { deliverChildOutcome } from './children.js';
import { closeRun } from './close-run.js';
import { type EngineContext, numberEvents } from './context.js';
import { fireUserTimers } from './fire-user-timers.js';
import { notifyKeys } from './notifier.js';
import { TIMER_MAX_SLEEP_MS } from './wake-hints.js';

/** Due timers claimed per round; SKIP LOCKED lets other replicas claim the rest. */
const BATCH_SIZE = 64;
/** Timeouts and child outcomes fired at once by one server, each in its own transaction. */
const CONCURRENCY = 4;
/** How soon a timer whose run another transition had locked is tried again. */
const BUSY_RETRY_MS = 10;

/**
 * Fires timers and timeouts. Sleeps until the nearest due time (or until a
 * transition adds a timer due before that: see `TimerHints`), then fires
 * every due row (see `fireDue`). Overdue timers fire at start, so a server that was down
 * catches up. A timer never fires before its due time.
 *
 * It never sleeps longer than `TIMER_MAX_SLEEP_MS` without reading the next
 * due time: timers due further off than that are added without a
 * notification (see `isBroadcast`), and found by this read. Such a wake-up
 * only reads; it fires when the read finds something due.
 */
export class TimerService {
  private stopped = false;
  private loop: Promise<void> | undefined;
  private wake: (() => void) | undefined;
  /** A due timer was skipped because its run or activity was locked by another transition. */
  private busy = false;
  private readonly subscriptionKey = notifyKeys.timers();

  constructor(
    private readonly ctx: EngineContext,
    private readonly onError: (error: unknown) => void,
  ) {}

  start(): void {
    this.loop = this.run();
  }

  async stop(): Promise<void> {
    this.stopped = true;
    this.wake?.();
    await this.loop;
  }

  private async run(): Promise<void> {
    const hints = this.ctx.notifier.timerHints;
    /** The last sleep ran its full length, and that was the longest sleep: nothing was known to be due then. */
    let onlyRecheck = false;
    while (!this.stopped) {
      const subscription = this.ctx.notifier.subscribe(this.subscriptionKey);
      try {
        this.busy = false;
        hints.busy();
        let next = onlyRecheck ? await nextTimerDueAt(this.ctx.db) : undefined;
        if (!onlyRecheck || (next !== undefined && next <= this.ctx.clock.now())) {
          await this.fireDue();
          next = await nextTimerDueAt(this.ctx.db);
        }
        onlyRecheck = false;
        const now = this.ctx.clock.now();
        const longest = now + TIMER_MAX_SLEEP_MS;
        const wakeAt = hints.plan(Math.min(next ?? Number.POSITIVE_INFINITY, longest));
        let delay = wakeAt - now;
        if (this.busy) delay = Math.max(delay, BUSY_RETRY_MS);
        if (delay > 0 && !this.stopped) {
          const controller = new AbortController();
          this.wake = () => controller.abort();
          const interrupted = await subscription.wait(delay, controller.signal);
          onlyRecheck = !interrupted && wakeAt === longest && !this.busy;
        }
      } catch (error) {
        if (this.stopped) return;
        this.onError(error);
        await new Promise((resolve) => setTimeout(resolve, 1000));
      } finally {
        subscription.dispose();
      }
    }
  }

  /**
   * Fires every due timer. One statement claims a batch; workflow timers in
   * it fire together in that transaction (see `fireUserTimers`), so a burst
   * of timers falling due at once costs a few statements each round, and a
   * lone timer needs no extra look for more. Other kinds (timeouts, child
   * outcomes) each get a transaction of their own, a few in parallel.
   */
  private async fireDue(): Promise<void> {
    while (!this.stopped) {
      const round = await this.fireBatch();
      let fired = round.fired;
      const queue = [...round.others];
      const workers = Array.from({ length: Math.min(CONCURRENCY, queue.length) }, async () => {
        for (let key = queue.shift(); key && !this.stopped; key = queue.shift()) {
          if (await this.fireOne(key)) fired++;
        }
      });
      await Promise.all(workers);
      // A short batch was all that was due; a full one may have left more, unless nothing in it could fire.
      if (round.claimed < BATCH_SIZE || fired === 0) return;
    }
  }

  private async fireBatch(): Promise<{ claimed: number; fired: number; others: TimerRow[] }> {
    try {
      return await this.ctx.transition(async (tx, notify) => {
        const timers = await claimDueTimers(tx, this.ctx.clock.now(), BATCH_SIZE);
        const userTimers = timers.filter((t) => t.kind === 'user-timer');
        const others = timers.filter((t) => t.kind !== 'user-timer');
        const { fired, busy } = await fireUserTimers(this.ctx, tx, userTimers, notify);
        if (busy) this.busy = true;
        return { claimed: timers.length, fired, others };
      });
    } catch (error) {
      if (!isLockNotAvailable(error)) throw error;
      this.busy = true;
      return { claimed: 0, fired: 0, others: [] };
    }
  }

  /** Fires one timer claimed by a batch if it is still due; false when it is gone, or its run is busy (tried again shortly). */
  private async fireOne(key: TimerRow): Promise<boolean> {
    try {
      return await this.ctx.transition(async (tx, notify) => {
        const timer = await claimTimer(tx, key, this.ctx.clock.now());
        if (!timer) return false;
        await fireTimer(this.ctx, tx, timer, notify);
        return true;
      });
    } catch (error) {
      if (!isLockNotAvailable(error)) throw error;
      this.busy = true;
      return false;
    }
  }
}

async function fireTimer(
  ctx: EngineContext,
  tx: Queryable,
  timer: TimerRow,
  notify: (key: string) => void,
): Promise<void> {
  // Transitions lock run, then activity, then timer rows. This one already holds the timer row, so it must
  // not wait for the others (a deadlock with, say, a completion closing the run): NOWAIT, and retry later.
  const run = await lockRun(tx, timer.namespace, timer.runId, { nowait: true });
  if (run?.status !== 'running') {
    await deleteTimer(tx, timer.namespace, timer.runId, timer.timerKey);
    return;
  }
  if (timer.kind === 'child-closed') {
    await deleteTimer(tx, timer.namespace, timer.runId, timer.timerKey);
    await deliverChildOutcome(ctx, tx, run, timer.data, notify);
    return;
  }
  if (timer.kind === 'workflow-timeout') {
    const timeoutType = timer.data.timeoutType === 'run' ? 'run' : 'execution';
    const now = ctx.clock.now();
    await closeRun(
      ctx,
      tx,
      run,
      numberEvents(run, [{ type: 'WorkflowExecutionTimedOut', attributes: { timeoutType } }], now),
      {
        status: 'timed-out',
        now,
        failure: {
          message: `workflow timed out (${timeoutType} timeout)`,
          type: 'TimeoutFailure',
          info: { timeoutType },
        },
      },
      notify,
    );
    return;
  }
  const activity = await getActivityTask(
    tx,
    timer.namespace,
    timer.runId,
    Number(timer.data.scheduledEventId),
    'nowait',
  );
  if (!activity) {
    await deleteTimer(tx, timer.namespace, timer.runId, timer.timerKey);
    return;
  }
  const now = ctx.clock.now();
  const deadline = nextActivityDeadline({ ...activity, leased: activity.leaseId !== null });
  if (!deadline || deadline.at > now) {
    // A heartbeat or a new attempt moved the deadline since this timer was set.
    await rescheduleActivityTimer(tx, activity, notify);
    return;
  }
  const failure: Failure = {
    message: `activity ${activity.activityType} timed out (${deadline.type} timeout)`,
    type: 'TimeoutFailure',
    info: { timeoutType: deadline.type },
    ...(activity.heartbeatDetails ? { details: [activity.heartbeatDetails] } : {}),
  };
  if (isRetryableTimeout(deadline.type)) {
    await retryOrFailActivity(
      ctx,
      tx,
      run,
      activity,
      failure,
      'tideway-timer',
      notify,
      deadline.type as 'startToClose' | 'heartbeat',
    );
    return;
  }
  await finishActivity(ctx, tx, run, activity, notify, {
    type: 'ActivityTaskTimedOut',
    attributes: {
      scheduledEventId: activity.scheduledEventId,
      failure: {
        message: `activity ${activity.activityType} (id ${activity.activityId}) timed out`,
        type: 'ActivityFailure',
        info: {
          activityType: activity.activityType,
          activityId: activity.activityId,
          attempt: activity.attempt,
          retryState: 'timeout',
        },
        cause: failure,
      },
      attempt: activity.attempt,
      timeoutType: deadline.type,
    },
  });
}
