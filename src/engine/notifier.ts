import type { Db } from '../store/index.js';

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

/** The queue key and time of a `workflowTaskVisibleAt` key; undefined if malformed. */
function parseVisibleAt(key: string): { queueKey: string; at: number } | undefined {
  const cut = key.lastIndexOf(':');
  const at = Number(key.slice(cut + 1));
  if (cut <= VISIBLE_AT_PREFIX.length || !Number.isFinite(at)) return undefined;
  return { queueKey: `w:${key.slice(VISIBLE_AT_PREFIX.length, cut)}`, at };
}

/** A registration made before checking for work, so a notify in between is not missed. */
export interface Subscription {
  /** Resolves when notified (or already notified), after `ms`, when `signal` aborts, or on `dispose`. */
  wait(ms: number, signal?: AbortSignal): Promise<void>;
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

/**
 * Remembers which workflow task queues (per workflow type) may have queries waiting, from the
 * notifications every replica hears, so pollers look for queries only then
 * instead of on every claim. After a start or a lost connection every queue
 * looks once, as notifications may have been missed.
 */
export class QueryHints {
  private readonly pending = new Set<string>();
  private generation = 1;
  private readonly checkedAt = new Map<string, number>();

  mark(queueKey: string): void {
    this.pending.add(queueKey);
  }

  markAll(): void {
    this.generation++;
  }

  /** True if the queue may have queries; clears the hint (set it again if a query was found). */
  take(queueKey: string): boolean {
    const unchecked = (this.checkedAt.get(queueKey) ?? 0) < this.generation;
    this.checkedAt.set(queueKey, this.generation);
    return this.pending.delete(queueKey) || unchecked;
  }
}

/**
 * Remembers, per task queue and set of types, that a claim found nothing,
 * so the next poll can wait without asking the database again. The memory
 * holds only until the queue is notified (new work), its next known task
 * becomes visible, notifications may have been missed, or a minute passes
 * (a safety net: at worst one claim per queue per minute per replica).
 */
export class EmptyQueueHints {
  private readonly generations = new Map<string, number>();
  private epoch = 0;
  private readonly empty = new Map<string, { generation: string; recheckAt: number; rechecking?: boolean }>();

  static readonly MAX_AGE_MS = 60_000;
  /** How long other polls wait for the one poll that rechecks an expired memory. */
  static readonly RECHECK_GRACE_MS = 2_000;

  /** A token that changes whenever the queue is notified (take it before claiming). */
  generation(queueKey: string): string {
    let generation = this.generations.get(queueKey);
    if (generation === undefined) {
      generation = 0;
      this.generations.set(queueKey, generation);
    }
    return `${this.epoch}:${generation}`;
  }

  /** Counts notifications of keys someone polls (only those, so per-run keys take no memory). */
  notified(key: string): void {
    const generation = this.generations.get(key);
    if (generation !== undefined) this.generations.set(key, generation + 1);
  }

  /** True if someone polls `key` (its notifications are counted). */
  tracks(key: string): boolean {
    return this.generations.has(key);
  }

  /** Notifications may have been lost (reconnect) or the clock jumped: every queue is checked again. */
  forgetAll(): void {
    this.epoch++;
    this.empty.clear();
  }

  /**
   * A task of the queue becomes visible at `at` (a lease that may run out): memories of it being empty
   * end no later. True if one was shortened (polls waiting on it should re-plan their wait).
   */
  visibleBy(queueKey: string, at: number): boolean {
    const prefix = `${queueKey}\u0000`;
    let shortened = false;
    for (const [hintKey, hint] of this.empty) {
      if ((hintKey === queueKey || hintKey.startsWith(prefix)) && at < hint.recheckAt) {
        hint.recheckAt = at;
        shortened = true;
      }
    }
    return shortened;
  }

  /** A claim taken at `generation` found nothing; nothing becomes visible before `nextVisibleAt`. */
  markEmpty(hintKey: string, generation: string, now: number, nextVisibleAt: number | undefined): void {
    const recheckAt = Math.min(nextVisibleAt ?? Number.POSITIVE_INFINITY, now + EmptyQueueHints.MAX_AGE_MS);
    this.empty.set(hintKey, { generation, recheckAt });
  }

  /**
   * When the queue is known to be empty, until when (else undefined: claim).
   * When the memory runs out, the first poll to ask looks at the queue, and
   * the others keep waiting while it does (up to RECHECK_GRACE_MS): every
   * idle poller wakes at that same moment, and one claim answers for all.
   */
  knownEmptyUntil(hintKey: string, generation: string, now: number): number | undefined {
    const hint = this.empty.get(hintKey);
    if (!hint || hint.generation !== generation) return undefined;
    if (now < hint.recheckAt) return hint.recheckAt;
    hint.recheckAt = now + EmptyQueueHints.RECHECK_GRACE_MS;
    hint.rechecking = true;
    return undefined;
  }

  /**
   * A claim found work, or saw some visible: the queue is not known empty.
   * True if other polls were waiting for this poll's recheck: they should
   * look now, not when the grace runs out.
   */
  forget(hintKey: string): boolean {
    const hint = this.empty.get(hintKey);
    this.empty.delete(hintKey);
    return hint?.rechecking === true;
  }
}

/**
 * What the timer service learns from `timerDue` notifications. Most timers
 * are activity deadlines that are deleted long before they fall due, so a
 * notification wakes the service only when the new timer is due before the
 * service would wake anyway; otherwise it is only remembered (the earliest
 * one), for the service to take into account when it next plans its sleep.
 */
export class TimerHints {
  /** When the timer service will wake by itself; -Infinity while it is busy firing (nothing to interrupt). */
  private plannedWakeAt = Number.NEGATIVE_INFINITY;
  private earliest = Number.POSITIVE_INFINITY;

  /** True if the service must be woken for a timer due at `dueAt`. */
  noted(dueAt: number): boolean {
    if (dueAt < this.earliest) this.earliest = dueAt;
    return dueAt < this.plannedWakeAt;
  }

  /** The service is about to fire what is due: from now on hints are only collected. */
  busy(): void {
    this.plannedWakeAt = Number.NEGATIVE_INFINITY;
    this.earliest = Number.POSITIVE_INFINITY;
  }

  /**
   * The service has read the next due time from the table and plans to wake
   * at `at`; returns the wake-up time, moved earlier by any hint collected
   * while it was busy (such a timer may have committed after the read).
   */
  plan(at: number): number {
    this.plannedWakeAt = Math.min(at, this.earliest);
    return this.plannedWakeAt;
  }
}

/**
 * Tells the notification of a commit this process already counted from new
 * work. A transition's commit counts its queue keys at once
 * (`committedLocally`); its notification comes back through LISTEN a moment
 * later, and counting it again would make a claim made in between, which
 * saw that commit's task and took it, look stale: the next poll would claim
 * nothing. Notifications arrive in commit order, so whatever arrives while
 * a commit of ours is awaited committed no later than ours did, and a claim
 * made after our count saw it too. The notification may also arrive before
 * the committing connection's answer; then it was counted as new work, and
 * our count is skipped instead. Either way a key is counted at least once
 * after its work committed; at worst a poll claims once for nothing.
 */
export class OwnNotifications {
  /** How long an awaited notification is expected: past it, one arriving counts as new (at worst one needless claim). */
  static readonly AWAIT_MS = 5_000;
  /**
   * How long a notification that arrived unexpected may still be the one of a commit whose answer is late.
   * Short: meanwhile a commit of ours with that key is not counted until its own notification arrives.
   */
  static readonly EARLY_MS = 100;
  /** Per key, when our commits were counted whose notification has not arrived. */
  private readonly awaited = new Map<string, number[]>();
  /** Per key, when notifications arrived that no commit of ours was awaiting (ours may be answered next). */
  private readonly unexplained = new Map<string, number[]>();

  /** A commit of ours with `key` was answered: false if its notification already arrived (do not count it again). */
  committed(key: string, now: number): boolean {
    if (this.take(this.unexplained, key, now, OwnNotifications.EARLY_MS)) return false;
    this.add(this.awaited, key, now, OwnNotifications.AWAIT_MS);
    return true;
  }

  /** A notification of `key` arrived: true if a commit of ours already counted it. */
  arrived(key: string, now: number): boolean {
    if (this.take(this.awaited, key, now, OwnNotifications.AWAIT_MS)) return true;
    this.add(this.unexplained, key, now, OwnNotifications.EARLY_MS);
    return false;
  }

  /** Notifications may have been lost: expect nothing. */
  clear(): void {
    this.awaited.clear();
    this.unexplained.clear();
  }

  private add(map: Map<string, number[]>, key: string, now: number, keepMs: number): void {
    const times = this.fresh(map, key, now, keepMs);
    times.push(now);
    map.set(key, times);
  }

  private take(map: Map<string, number[]>, key: string, now: number, keepMs: number): boolean {
    const times = this.fresh(map, key, now, keepMs);
    const found = times.shift() !== undefined;
    if (times.length === 0) map.delete(key);
    return found;
  }

  private fresh(map: Map<string, number[]>, key: string, now: number, keepMs: number): number[] {
    const times = map.get(key) ?? [];
    while (times.length > 0 && now - times[0]! > keepMs) times.shift();
    return times;
  }
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
        if (fired || ms <= 0 || signal?.aborted) return Promise.resolve();
        return new Promise<void>((resolve) => {
          const timer = setTimeout(done, ms);
          function done() {
            clearTimeout(timer);
            signal?.removeEventListener('abort', done);
            resolveWait = undefined;
            fired = false;
            resolve();
          }
          resolveWait = done;
          signal?.addEventListener('abort', done, { once: true });
        });
      },
    };
  }
}
