import { Turns } from '../protocol/index.js';
import type { ActivityTaskRow, Queryable, RunRow, WorkflowTaskRow } from '../store/index.js';

/*
 * What this engine knows of the runs it last changed. A completion
 * (workflow task or activity) normally locks its run and reads the run and
 * its task rows, waits for the answer, then sends its writes: two round
 * trips. When this engine committed the run's last change itself, it already
 * knows those rows, so it computes the writes from them and sends them at
 * once, behind guards that check under the run's lock that the rows still
 * hold what it knew (store/known-state.ts): one round trip. If a guard finds
 * the run changed (another replica, a signal, a fired timer), nothing is
 * written and the completion runs again the usual way.
 *
 * So this is only ever a guess that a guard checks: a wrong entry costs time,
 * never correctness. What keeps the guess sound is that a guard checks every
 * column a completion reads that can change, and the rest never change once
 * the row exists (`RUN_COLUMNS` and friends classify them, and a test keeps
 * the classification complete).
 */

/** An activity as known: without its input and heartbeat details (large, and never read by a completion). */
export type KnownActivity = Omit<ActivityTaskRow, 'input' | 'heartbeatDetails' | 'lastHeartbeatAt'>;

/** A run without its buffered signal names (up to 10,000, only ever written by a completion). */
export type KnownRunRow = Omit<RunRow, 'bufferedSignals'>;

/** A workflow timer (a durable sleep) as the completion that started it set it. */
export interface KnownTimer {
  /** The TimerStarted event. */
  startedEventId: number;
  /** When it is truly due (without a reporting worker's grace). */
  fireAt: number;
}

/** A run's rows as this engine last committed them. */
export interface KnownRun {
  run: KnownRunRow;
  /** The run's workflow task; null: it has none. */
  workflowTask: WorkflowTaskRow | null;
  /** Activities of the run this engine knows (not necessarily all it has). */
  activities: ReadonlyMap<number, KnownActivity>;
  /** Workflow timers this engine started and knows still set, by timer key (not necessarily all the run has). */
  timers?: ReadonlyMap<string, KnownTimer>;
}

/**
 * Which columns of each row a known-state guard checks ('guarded'), and
 * which never change while the row exists ('fixed'), or are left out of what
 * is known ('unknown'). A completion may read only guarded and fixed columns
 * of a known row.
 */
export const RUN_COLUMNS: Record<keyof RunRow, 'guarded' | 'fixed' | 'unknown'> = {
  namespace: 'fixed',
  runId: 'fixed',
  workflowId: 'fixed',
  workflowType: 'fixed',
  taskQueue: 'fixed',
  // Closing a run changes its status and sets its close time, result, failure and next run together.
  status: 'guarded',
  closeTime: 'fixed',
  result: 'fixed',
  failure: 'fixed',
  nextRunId: 'fixed',
  requestId: 'fixed',
  nextEventId: 'guarded',
  seenUpToEventId: 'guarded',
  workflowTaskTimeoutMs: 'fixed',
  startTime: 'fixed',
  executionDeadline: 'fixed',
  // A reset of the parent hands its running children to the new parent run.
  parentRunId: 'guarded',
  parentInitiatedEventId: 'fixed',
  parentClosePolicy: 'fixed',
  bufferedSignals: 'unknown',
  hasChildren: 'guarded',
  hasUpdates: 'guarded',
};

export const WORKFLOW_TASK_COLUMNS: Record<keyof WorkflowTaskRow, 'guarded' | 'fixed' | 'unknown'> = {
  namespace: 'fixed',
  runId: 'fixed',
  workflowId: 'fixed',
  workflowType: 'fixed',
  taskQueue: 'fixed',
  attempt: 'guarded',
  leaseId: 'guarded',
  leasedAt: 'guarded',
  lastEventIdAtLease: 'guarded',
  speculative: 'guarded',
  updatesPending: 'guarded',
  // Change only with the lease (a claim, a retry, a release), which the lease id guards.
  visibleAt: 'fixed',
  lastFailure: 'fixed',
};

export const ACTIVITY_COLUMNS: Record<keyof ActivityTaskRow, 'guarded' | 'fixed' | 'unknown'> = {
  namespace: 'fixed',
  runId: 'fixed',
  scheduledEventId: 'fixed',
  workflowId: 'fixed',
  workflowType: 'fixed',
  activityId: 'fixed',
  activityType: 'fixed',
  taskQueue: 'fixed',
  scheduledAt: 'fixed',
  scheduleToStartMs: 'fixed',
  startToCloseMs: 'fixed',
  scheduleToCloseMs: 'fixed',
  heartbeatMs: 'fixed',
  retryPolicy: 'fixed',
  leaseId: 'guarded',
  attempt: 'guarded',
  cancelRequested: 'guarded',
  // Change only with the lease (a claim, a retry, a release), which the lease id guards.
  startedAt: 'fixed',
  visibleAt: 'fixed',
  lastFailure: 'fixed',
  input: 'unknown',
  heartbeatDetails: 'unknown',
  lastHeartbeatAt: 'unknown',
};

/** How many guesses make a window, how many may miss in one, and how long a pause lasts. */
const WINDOW = 100;
const MAX_MISSES_PER_WINDOW = 10;
const PAUSE_COMPLETIONS = 1_000;

/**
 * This engine's knowledge of runs, bounded (least recently changed first
 * out). When guesses keep missing — replicas behind a load balancer that
 * sends a run's completions to each in turn — it stops guessing for a while:
 * a miss costs two round trips more than not guessing, a hit saves one.
 */
export class KnownRuns {
  /** Completions sent on known state, and those whose guard found the run changed. */
  tried = 0;
  missed = 0;
  private readonly runs = new Map<string, KnownRun>();
  private readonly turns = new Turns();
  private windowTried = 0;
  private windowMissed = 0;
  private pausedFor = 0;

  constructor(private readonly capacity = 10_000) {}

  get size(): number {
    return this.runs.size;
  }

  /**
   * Runs `fn` once the completions of the same run that came before it here
   * have finished. They would wait for each other at the run's lock anyway;
   * waiting here instead, each starts from what the one before left known,
   * so results of activities run in parallel, arriving together, do not
   * each find the run moved by the others.
   */
  inTurn<T>(namespace: string, runId: string, fn: () => Promise<T>): Promise<T> {
    return this.turns.run(key(namespace, runId), fn);
  }

  /** What is known of a run, as a copy the caller may change; undefined while guessing is paused. */
  take(namespace: string, runId: string): KnownRun | undefined {
    if (this.pausedFor > 0) {
      this.pausedFor--;
      return undefined;
    }
    const known = this.runs.get(key(namespace, runId));
    if (!known) return undefined;
    return {
      run: { ...known.run },
      workflowTask: known.workflowTask && { ...known.workflowTask },
      activities: new Map(known.activities),
      ...(known.timers ? { timers: new Map(known.timers) } : {}),
    };
  }

  /** What is known, without copying (tests). */
  peek(namespace: string, runId: string): KnownRun | undefined {
    return this.runs.get(key(namespace, runId));
  }

  /** A completion was sent on known state. */
  sent(): void {
    this.tried++;
    this.windowTried++;
    if (this.windowTried < WINDOW) return;
    if (this.windowMissed > MAX_MISSES_PER_WINDOW) this.pausedFor = PAUSE_COMPLETIONS;
    this.windowTried = 0;
    this.windowMissed = 0;
  }

  /** Its guard found the run changed: what was known of it is wrong. */
  miss(namespace: string, runId: string): void {
    this.missed++;
    this.windowMissed++;
    this.forget(namespace, runId);
  }

  know(state: KnownRun): void {
    const k = key(state.run.namespace, state.run.runId);
    this.runs.delete(k);
    this.runs.set(k, state);
    if (this.runs.size > this.capacity) this.runs.delete(this.runs.keys().next().value as string);
  }

  forget(namespace: string, runId: string): void {
    this.runs.delete(key(namespace, runId));
  }

  /** An activity of a known run was leased (a poll claimed it). */
  activityLeased(row: KnownActivity): void {
    const known = this.runs.get(key(row.namespace, row.runId));
    if (!known) return;
    const activities = new Map(known.activities);
    activities.set(row.scheduledEventId, row);
    this.know({ ...known, activities });
  }

  /**
   * A poll claimed the run's workflow task, reading the run as `run`: known
   * from now on, with the activities known before if the run had not moved.
   */
  workflowTaskClaimed(run: KnownRunRow, task: WorkflowTaskRow): void {
    const known = this.runs.get(key(task.namespace, task.runId));
    const same =
      known !== undefined &&
      known.run.nextEventId === run.nextEventId &&
      known.run.seenUpToEventId === run.seenUpToEventId;
    this.know(
      same
        ? { run, workflowTask: task, activities: known.activities, ...(known.timers ? { timers: known.timers } : {}) }
        : { run, workflowTask: task, activities: new Map() },
    );
  }
}

function key(namespace: string, runId: string): string {
  return `${namespace}\u0000${runId}`;
}

/** A change to what is known, recorded in a transaction and applied once it commits. */
type Change =
  | { kind: 'know'; state: KnownRun }
  | { kind: 'forget'; namespace: string; runId: string }
  | { kind: 'activityLeased'; row: KnownActivity }
  | { kind: 'workflowTaskClaimed'; run: KnownRunRow; task: WorkflowTaskRow };

const changesOf = new WeakMap<Queryable, Change[]>();

function record(tx: Queryable, change: Change): void {
  const changes = changesOf.get(tx);
  if (changes) changes.push(change);
  else changesOf.set(tx, [change]);
}

/** Once `tx` commits, the run is known as `state` (copied now: the caller may go on changing its objects). */
export function knowAfterCommit(tx: Queryable, state: KnownRun): void {
  const { bufferedSignals: _, ...run } = state.run as RunRow;
  record(tx, {
    kind: 'know',
    state: {
      run,
      workflowTask: state.workflowTask && { ...state.workflowTask },
      activities: state.activities,
      ...(state.timers && state.timers.size > 0 ? { timers: state.timers } : {}),
    },
  });
}

/** `tx` changes the run in ways not modelled here: whatever was known of it is dropped once it commits. */
export function forgetAfterCommit(tx: Queryable, run: { namespace: string; runId: string }): void {
  record(tx, { kind: 'forget', namespace: run.namespace, runId: run.runId });
}

export function activityLeasedAfterCommit(tx: Queryable, row: ActivityTaskRow): void {
  const { input: _i, heartbeatDetails: _h, lastHeartbeatAt: _l, ...known } = row;
  record(tx, { kind: 'activityLeased', row: known });
}

export function workflowTaskClaimedAfterCommit(tx: Queryable, run: KnownRunRow, task: WorkflowTaskRow): void {
  record(tx, { kind: 'workflowTaskClaimed', run, task });
}

/** Applies what `tx` recorded, in order; call once it committed. */
export function applyAfterCommit(tx: Queryable, known: KnownRuns): void {
  const changes = changesOf.get(tx);
  if (!changes) return;
  changesOf.delete(tx);
  for (const change of changes) {
    if (change.kind === 'know') known.know(change.state);
    else if (change.kind === 'forget') known.forget(change.namespace, change.runId);
    else if (change.kind === 'activityLeased') known.activityLeased(change.row);
    else known.workflowTaskClaimed(change.run, change.task);
  }
}
