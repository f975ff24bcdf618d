import type { Db } from '../store/index.js';
import { EmptyQueueHints, OwnNotifications, QueryHints, TIMER_HINT_HORIZON_MS, TimerHints } from './wake-hints.js';

/**
 * Wakes long-polls and the timer service when work arrives. On PostgreSQL a
 * transition queues `pg_notify` inside its transaction, so every replica hears
 * it on commit; on PGlite (one process) the engine emits locally after commit.
 */
export const NOTIFY_CHANNEL = 'tideway';

export const notifyKeys = {
  workflowQueue: (ns: string, queue: string) => `w:${ns}:${queue}`,
  activityQueue: (ns: string, queue: string) => `a:${ns}:${queue}`,
  runClosed: (ns: string, runId: string) => `r:${ns}:${runId}`,
  /** New task events of a run (watchers of its event stream). */
  taskEvents: (ns: string, runId: string) => `e:${ns}:${runId}`,
  /** A query was queued for a workflow type on a task queue (see QueryHints). */
  queryQueued: (ns: string, queue: string, workflowType: string) => `qn:${queryHintKey(ns, queue, workflowType)}`,
  /** The timer service must re-read the timer table now (notifications may have been lost). */
  timers: () => 't',
  /** A timer due at `dueAt` was added or moved: wakes the timer service only if that is before its next wake-up. */
  timerDue: (dueAt: number) => `t:${Math.floor(dueAt)}`,
  /**
   * A workflow task was leased without passing through the queue (a start handed it to a waiting poll):
   * if its worker never completes it, it becomes visible at `at`. Polls that think the queue empty until
   * later look again then; nobody claims now.
   */
  workflowTaskVisibleAt: (ns: string, queue: string, at: number) => `wv:${ns}:${queue}:${Math.floor(at)}`,
};

const TIMER_DUE_PREFIX = 't:';
const VISIBLE_AT_PREFIX = 'wv:';

/**
 * Whether other replicas need to hear `key` from a commit at `now`. A timer
 * due beyond the horizon is found by every timer service's next regular
 * read of the table before it falls due; announcing it would cost each
 * activity step a notification for nothing (activity deadlines are mostly
 * that far off, and deleted before they fall due).
 */
export function isBroadcast(key: string, now: number): boolean {
  if (!key.startsWith(TIMER_DUE_PREFIX)) return true;
  const dueAt = Number(key.slice(TIMER_DUE_PREFIX.length));
  return !Number.isFinite(dueAt) || dueAt <= now + TIMER_HINT_HORIZON_MS;
}

/** The queue key and time of a `workflowTaskVisibleAt` key; undefined if malformed. */
function parseVisibleAt(key: string): { queueKey: string; at: number } | undefined {
  const cut = key.lastIndexOf(':');
  const at = Number(key.slice(cut + 1));
  if (cut <= VISIBLE_AT_PREFIX.length || !Number.isFinite(at)) return undefined;
  return { queueKey: `w:${key.slice(VISIBLE_AT_PREFIX.length, cut)}`, at };
}

/** A registration made before checking for work, so a notify in between is not missed. */
export interface Subscription {
  /**
   * Resolves when notified (or already notified), after `ms`, when `signal` aborts, or on `dispose`:
   * with false if `ms` ran out, true otherwise.
   */
  wait(ms: number, signal?: AbortSignal): Promise<boolean>;
  dispose(): void;
  /**
   * What the last wake-up carried: a value a commit of this process passed with the key (a closed run's
   * outcome), so the waiter need not read it back; undefined for wake-ups by notifications.
   */
  readonly value: unknown;
}

/** Values passed with keys by this process's commits (see `Subscription.value`). */
type Values = ReadonlyMap<string, unknown>;

export function queryHintKey(ns: string, queue: string, workflowType: string): string {
  return `${ns}\u001f${queue}\u001f${workflowType}`;
}

export class Notifier {
  private readonly waiters = new Map<string, Set<(value: unknown) => void>>();
  readonly queryHints = new QueryHints();
  readonly emptyQueues = new EmptyQueueHints();
  readonly timerHints = new TimerHints();
  private unlisten: (() => Promise<void>) | undefined;
  private readonly own = new OwnNotifications();
  /** Keys with a value whose commit by this process is on its way (see `committing`). */
  private readonly committingValues = new Map<string, number>();

  async start(db: Db): Promise<void> {
    if (db.kind === 'postgres') {
      // An empty payload means notifications may have been lost: every waiter re-checks.
      this.unlisten = await db.listen(NOTIFY_CHANNEL, (key) => (key ? this.notificationArrived(key) : this.wakeAll()));
    }
  }

  /** A notification came through LISTEN: one this process's commit already counted only wakes the waiters. */
  notificationArrived(key: string): void {
    // This process's commit of the key is being answered: its answer wakes the waiters, with the value.
    if (this.committingValues.has(key)) return;
    if (this.emptyQueues.tracks(key) && this.own.arrived(key, performance.now())) this.wakeLocal(key);
    else this.emit([key]);
  }

  /** A transition of this process sends COMMIT with these keys: those with a value are woken by its answer. */
  committing(keys: Values): void {
    for (const [key, value] of keys) {
      if (value !== undefined) this.committingValues.set(key, (this.committingValues.get(key) ?? 0) + 1);
    }
  }

  /** The commit announced by `committing` failed or its answer was lost: waiters of its keys look for themselves. */
  commitFailed(keys: Values): void {
    for (const [key, value] of keys) {
      if (value === undefined) continue;
      this.doneCommitting(key);
      this.wakeLocal(key);
    }
  }

  private doneCommitting(key: string): void {
    const n = this.committingValues.get(key) ?? 0;
    if (n <= 1) this.committingValues.delete(key);
    else this.committingValues.set(key, n - 1);
  }

  async stop(): Promise<void> {
    await this.unlisten?.();
    for (const set of this.waiters.values()) for (const wake of set) wake(undefined);
    this.waiters.clear();
  }

  /** Wakes every waiter so it re-reads the clock (after a test clock skipped forward). */
  wakeAll(): void {
    this.own.clear();
    this.queryHints.markAll();
    this.emptyQueues.forgetAll();
    this.emit([...this.waiters.keys()]);
  }

  emit(keys: Iterable<string>, values?: Values): void {
    const woken: string[] = [];
    for (const key of keys) {
      if (key.startsWith('qn:')) this.queryHints.mark(key.slice(3));
      else if (key.startsWith(VISIBLE_AT_PREFIX)) {
        this.replanFor(key);
        continue;
      } else if (key.startsWith(TIMER_DUE_PREFIX)) {
        const dueAt = Number(key.slice(TIMER_DUE_PREFIX.length));
        // A malformed hint (not ours) wakes the service rather than risk a missed timer.
        if (!Number.isFinite(dueAt) || this.timerHints.noted(dueAt)) woken.push(notifyKeys.timers());
        continue;
      } else this.emptyQueues.notified(key);
      woken.push(key);
    }
    for (const key of woken) this.wakeLocal(key, values?.get(key));
  }

  /**
   * A transition of this process committed with these keys; their
   * notification is on its way through the database. Queues it touched are
   * no longer known empty, and this process's waiters wake at once rather
   * than a round trip through LISTEN later: the commit is visible to every
   * read they make now. (When the notification comes, a queue's waiters only
   * wake again: see `OwnNotifications`.) Query hints are marked here too, as
   * the polls woken look for queries only where hinted; timer hints are left
   * to the notification.
   */
  committedLocally(keys: Iterable<string>, values?: Values): void {
    keys = [...keys];
    const now = performance.now();
    // Hints first, so the polls woken below already see them.
    for (const key of keys) {
      if (key.startsWith('qn:')) this.queryHints.mark(key.slice(3));
      else if (key.startsWith(VISIBLE_AT_PREFIX)) this.replanFor(key);
    }
    for (const key of keys) {
      if (key.startsWith('qn:') || key.startsWith(TIMER_DUE_PREFIX) || key.startsWith(VISIBLE_AT_PREFIX)) continue;
      if (this.emptyQueues.tracks(key) && this.own.committed(key, now)) this.emptyQueues.notified(key);
      const value = values?.get(key);
      if (value !== undefined) this.doneCommitting(key);
      this.wakeLocal(key, value);
    }
  }

  /** A `workflowTaskVisibleAt` key: polls that waited on an empty queue past that time wake and wait less. */
  private replanFor(key: string): void {
    const parsed = parseVisibleAt(key);
    if (parsed && this.emptyQueues.visibleBy(parsed.queueKey, parsed.at)) this.wakeLocal(parsed.queueKey);
  }

  /** How many of this process's waiters watch `key` now (for tests). */
  waitingOn(key: string): number {
    return this.waiters.get(key)?.size ?? 0;
  }

  /** Wakes this process's waiters on `key` only (no notification, no change of generation). */
  wakeLocal(key: string, value?: unknown): void {
    for (const wake of this.waiters.get(key) ?? []) wake(value);
  }

  subscribe(key: string): Subscription {
    let fired = false;
    let lastValue: unknown;
    let resolveWait: (() => void) | undefined;
    const wake = (value: unknown) => {
      fired = true;
      lastValue = value;
      resolveWait?.();
    };
    let set = this.waiters.get(key);
    if (!set) {
      set = new Set();
      this.waiters.set(key, set);
    }
    set.add(wake);
    const dispose = () => {
      set.delete(wake);
      if (set.size === 0 && this.waiters.get(key) === set) this.waiters.delete(key);
      // A wait still pending (its caller stopped waiting for another reason) ends: no timer or listener stays.
      resolveWait?.();
    };
    return {
      dispose,
      get value() {
        return lastValue;
      },
      wait(ms, signal) {
        if (fired || signal?.aborted) return Promise.resolve(true);
        if (ms <= 0) return Promise.resolve(false);
        return new Promise<boolean>((resolve) => {
          const timer = setTimeout(() => done(false), ms);
          const interrupted = () => done(true);
          function done(early: boolean) {
            clearTimeout(timer);
            signal?.removeEventListener('abort', interrupted);
            resolveWait = undefined;
            fired = false;
            resolve(early);
          }
          resolveWait = interrupted;
          signal?.addEventListener('abort', interrupted, { once: true });
        });
      },
    };
  }
}
