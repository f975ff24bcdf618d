import type { Command, HistoryEvent } from '../protocol/index.js';
import { realDateNow } from '../workflow/determinism.js';

/**
 * Timers longer than this are left to the engine's timer service: a worker
 * is less likely to still hold the run, or to be running at all, by then.
 */
const MAX_LOCAL_TIMER_MS = 10 * 60_000;
/**
 * While the bound on the engine's clock minus this machine's is no further
 * below zero than this, the clocks are taken to agree; further below, the
 * bound is believed (the engine's clock is behind, or every answer is slow
 * to come), so that no report comes too early for the engine to hold.
 */
const CLOCKS_AGREE_WITHIN_MS = 50;

/** A timer this worker promised to report when due, and where its run is. */
export interface PromisedTimer {
  runId: string;
  workflowType: string;
  taskQueue: string;
  timerId: string;
  /** The TimerStarted event's id and due time, when the completion's events came back (to run the workflow ahead). */
  started?: { eventId: number; fireAt: number };
}

/**
 * The worker's own clocks for the timers it promised to report
 * (`wakesTimers`), set when the completion that started the timer is
 * answered. A clock runs out at the timer's due time (its TimerStarted
 * event's `fireAt`) by this machine's clock, or sooner by as much as the
 * engine's clock is known to be ahead: every event the worker receives was
 * stamped by the engine before it arrived, which bounds the engine's clock
 * minus its own from below (see `EngineClockBound`). A bound below zero
 * says nothing of which clock is ahead (the event took time to arrive), so
 * while it is near zero the clocks are taken to agree, as they do on one
 * machine or under NTP: waiting out the bound instead made every timer late
 * by the time an answer takes to arrive, several milliseconds in a burst. A
 * report that comes a little early by the engine's clock is held there
 * until due (see EARLY_REPORT_HOLD_MS); one too early even for that is
 * answered `not-due`, and the clock is set again. The engine fires nothing early either way. Without
 * the event, a clock is set for the whole duration, which is never early.
 */
export class TimerWakes {
  private readonly clocks = new Map<string, NodeJS.Timeout>();
  private readonly engineClock = new EngineClockBound();
  private stopped = false;

  constructor(private readonly onDue: (timer: PromisedTimer) => void) {}

  /** The ids of the timers these commands start that this worker will report. */
  static promised(commands: readonly Command[]): string[] {
    const ids: string[] = [];
    for (const c of commands) if (c.type === 'StartTimer' && c.durationMs <= MAX_LOCAL_TIMER_MS) ids.push(c.timerId);
    return ids;
  }

  /**
   * Sets the clocks for promised timers of a completion just answered;
   * `newEvents` (if it came back) gives each its TimerStarted event id.
   */
  setAll(
    run: Pick<PromisedTimer, 'runId' | 'workflowType' | 'taskQueue'>,
    commands: readonly Command[],
    promised: readonly string[],
    newEvents: readonly HistoryEvent[] | undefined,
  ): void {
    if (promised.length === 0) return;
    for (const command of commands) {
      if (command.type !== 'StartTimer' || !promised.includes(command.timerId)) continue;
      const started = newEvents?.find((e) => e.type === 'TimerStarted' && e.attributes.timerId === command.timerId);
      if (started?.type !== 'TimerStarted') {
        this.set({ ...run, timerId: command.timerId }, command.durationMs);
        continue;
      }
      const now = realDateNow();
      this.engineClock.observe(started.timestamp, now);
      const delay = Math.max(0, Math.min(command.durationMs, started.attributes.fireAt - now - this.believedOffset()));
      this.set(
        { ...run, timerId: command.timerId, started: { eventId: started.eventId, fireAt: started.attributes.fireAt } },
        delay,
      );
    }
  }

  /** The engine's clock minus this machine's, as the clocks are set by: see CLOCKS_AGREE_WITHIN_MS. */
  private believedOffset(): number {
    const bound = this.engineClock.offset;
    return bound < -CLOCKS_AGREE_WITHIN_MS ? bound : Math.max(0, bound);
  }

  /** Sets (or resets) one timer's clock to run out in `delayMs`. */
  set(timer: PromisedTimer, delayMs: number): void {
    if (this.stopped) return;
    const key = `${timer.runId}\u0000${timer.timerId}`;
    clearTimeout(this.clocks.get(key));
    this.arm(key, timer, realDateNow() + delayMs);
  }

  /**
   * Runs the clock out at `dueAt` by the real clock. `setTimeout` counts on the
   * monotonic clock in whole milliseconds and may call back up to a
   * millisecond before `Date.now()` reaches the due time (more while NTP
   * slews the clock): the workflow, run ahead at once, would see its timer
   * end early. An early callback sets the clock again for what is left.
   */
  private arm(key: string, timer: PromisedTimer, dueAt: number): void {
    const clock = setTimeout(
      () => {
        if (this.stopped) return;
        if (realDateNow() < dueAt) return this.arm(key, timer, dueAt);
        this.clocks.delete(key);
        this.onDue(timer);
      },
      Math.max(0, dueAt - realDateNow()),
    );
    // A pending wake-up must not keep a process alive: the engine fires the timer anyway.
    clock.unref();
    this.clocks.set(key, clock);
  }

  /** Stops every clock: the engine fires those timers after their grace period. */
  stop(): void {
    this.stopped = true;
    for (const clock of this.clocks.values()) clearTimeout(clock);
    this.clocks.clear();
  }

  /** False once stopped: promise nothing more. */
  get active(): boolean {
    return !this.stopped;
  }

  /** Clocks running (for tests). */
  get size(): number {
    return this.clocks.size;
  }
}

/** How long an observation of the engine's clock counts: a clock stepped since must not be trusted for long. */
const CLOCK_WINDOW_MS = 30_000;

/**
 * A lower bound of the engine's clock minus this machine's: an event
 * stamped at engine time T and received at local time t says the offset is
 * at least T − t (it took some time to arrive). The tightest of the last
 * 30–60 s of observations is kept, so a machine whose clock steps is
 * misled for a minute at most.
 */
class EngineClockBound {
  private current = Number.NEGATIVE_INFINITY;
  private previous = Number.NEGATIVE_INFINITY;
  private windowEndsAt = 0;

  observe(engineTime: number, localNow: number): void {
    if (localNow >= this.windowEndsAt || localNow < this.windowEndsAt - 2 * CLOCK_WINDOW_MS) {
      this.previous = this.current;
      this.current = Number.NEGATIVE_INFINITY;
      this.windowEndsAt = localNow + CLOCK_WINDOW_MS;
    }
    this.current = Math.max(this.current, engineTime - localNow);
  }

  /** The bound; only called after an observation. */
  get offset(): number {
    return Math.max(this.current, this.previous);
  }
}
