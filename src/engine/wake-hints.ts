// What the notifier remembers between notifications, so that waking is
// cheap: which queues may have queries, which a claim found empty, when the
// timer service must wake, and which notifications this process's own
// commits already counted. Used by `Notifier` (notifier.ts).

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
 * The longest the timer service sleeps without reading the next due time
 * from the table: a timer due later than `TIMER_HINT_HORIZON_MS` from now is
 * found by that read, so its commit notifies nobody (see `isBroadcast`).
 */
export const TIMER_MAX_SLEEP_MS = 10_000;
/** The sleep above plus time for the commit to land: a timer due sooner is announced. */
export const TIMER_HINT_HORIZON_MS = TIMER_MAX_SLEEP_MS + 2_000;

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
