import { randomUUID } from 'node:crypto';
import { type HistoryEvent, type NewEvent, TidewayApiError } from '../protocol/index.js';
import {
  advanceRun,
  appendEvents,
  type Db,
  getWorkflowTask,
  insertWorkflowTask,
  isRunMovedConcurrently,
  makeTaskRegular,
  type Queryable,
  type RunAdvance,
  type RunRow,
  type WorkflowTaskRow,
} from '../store/index.js';
import type { Clock } from './clock.js';
import { applyAfterCommit, forgetAfterCommit, KnownRuns } from './known-runs.js';
import { isBroadcast, NOTIFY_CHANNEL, type Notifier, notifyKeys } from './notifier.js';
import { RegisteredTypes } from './registered-types.js';
import { RunReads } from './run-reads.js';
import { discardTaskEvents, flushTaskEvents } from './task-events.js';
import { WaitingPolls } from './waiting-polls.js';

/** What every engine operation needs: the database, time, wake-ups and limits. */
export interface EngineContext {
  db: Db;
  clock: Clock;
  notifier: Notifier;
  maxPayloadBytes: number;
  /** Aborted when the engine closes: long-polls return at once. */
  closing: AbortSignal;
  random: () => number;
  newId: () => string;
  /** Workflow types workers were recently seen to register (a start's name check). */
  registeredTypes: RegisteredTypes;
  /** Reads of runs by id for result waits, batched (see `RunReads`). */
  runReads: RunReads;
  /** Workflow polls waiting in this engine, which a start can hand its first task to. */
  waitingPolls: WaitingPolls;
  /** What this engine knows of the runs it last changed, for completions sent without a read (see known-runs.ts). */
  knownRuns: KnownRuns;
  /** Runs one state transition in one transaction; `notify` keys wake waiters after commit. */
  transition<T>(fn: (tx: Queryable, notify: Notify) => Promise<T>): Promise<T>;
}

/**
 * Queues a wake-up of `key`'s waiters for when the transaction commits. A
 * `value` reaches only this process's waiters (see `Subscription.value`);
 * other replicas get the key alone.
 */
export type Notify = (key: string, value?: unknown) => void;

export function createContext(args: {
  db: Db;
  clock: Clock;
  notifier: Notifier;
  maxPayloadBytes: number;
  closing: AbortSignal;
}): EngineContext {
  const { db, notifier, clock } = args;
  const knownRuns = new KnownRuns();
  return {
    ...args,
    random: Math.random,
    newId: randomUUID,
    registeredTypes: new RegisteredTypes(),
    runReads: new RunReads(db),
    waitingPolls: new WaitingPolls(),
    knownRuns,
    async transition(fn) {
      const keys = new Map<string, unknown>();
      // Keys only this process's waiters need: other replicas' watchers of task events are woken by the
      // database itself, and only when someone watches (see store/task-events.ts).
      const localKeys = new Set<string>();
      let committing = false;
      let result: Awaited<ReturnType<typeof fn>>;
      const opened: { tx?: Queryable } = {};
      try {
        result = await runTransaction(db, clock, fn, { keys, localKeys }, opened, () => {
          // On PostgreSQL the notification may come back through LISTEN before COMMIT is answered: the
          // waiters of keys with a value wait for the answer instead, which carries the value.
          if (db.kind === 'postgres') notifier.committing(keys);
          committing = true;
        });
      } catch (error) {
        if (committing && db.kind === 'postgres') notifier.commitFailed(keys);
        throw error;
      }
      if (opened.tx) applyAfterCommit(opened.tx, knownRuns);
      const woken = localKeys.size > 0 ? new Set([...keys.keys(), ...localKeys]) : keys.keys();
      if (db.kind === 'pglite') notifier.emit(woken, keys);
      // The commit is visible now: this replica wakes its waiters at once, and its memory of queues a
      // claim emptied must not hide what this transition queued from a poll that asks meanwhile.
      else notifier.committedLocally(woken, keys);
      return result;
    },
  };
}

async function runTransaction<T>(
  db: Db,
  clock: Clock,
  fn: (tx: Queryable, notify: Notify) => Promise<T>,
  { keys, localKeys }: { keys: Map<string, unknown>; localKeys: Set<string> },
  opened: { tx?: Queryable },
  beforeCommit: () => void,
): Promise<T> {
  try {
    return await db.transaction(
      async (tx) => {
        opened.tx = tx;
        let value: Awaited<ReturnType<typeof fn>>;
        try {
          value = await fn(tx, (key, value) => {
            if (value !== undefined || !keys.has(key)) keys.set(key, value);
          });
        } catch (error) {
          discardTaskEvents(tx);
          throw error;
        }
        await flushTaskEvents(tx, clock.now(), (key) => localKeys.add(key));
        return value;
      },
      // On PostgreSQL, delivered to every listening replica (this one included) when the transaction commits.
      {
        notifications: () => {
          beforeCommit();
          const now = clock.now();
          return { channel: NOTIFY_CHANNEL, payloads: [...keys.keys()].filter((key) => isBroadcast(key, now)) };
        },
      },
    );
  } catch (error) {
    if (isRunMovedConcurrently(error)) throw new TidewayApiError('FailedPrecondition', (error as Error).message);
    throw error;
  }
}

/** Numbers new events from the run's next event id. */
export function numberEvents(run: RunRow, events: readonly NewEvent[], now: number): HistoryEvent[] {
  return events.map((e, i) => ({ ...e, eventId: run.nextEventId + i, timestamp: now }) as HistoryEvent);
}

/**
 * Appends events to a running run and moves its next event id, guarded: if
 * another transition got there first, this one fails whole.
 */
export async function appendToRun(
  tx: Queryable,
  run: RunRow,
  events: readonly HistoryEvent[],
  change: Omit<RunAdvance, 'nextEventId'> = {},
): Promise<void> {
  const nextEventId = run.nextEventId + events.length;
  // Guarded: if another transition moved the run first, the transaction fails (see `transition`).
  await advanceRun(tx, run.namespace, run.runId, run.nextEventId, { ...change, nextEventId });
  await appendEvents(tx, run.namespace, run.runId, events);
  // The row as it now is, for a transition that goes on to tell what it knows of the run (known-runs.ts).
  run.nextEventId = nextEventId;
  if (change.seenUpToEventId !== undefined) run.seenUpToEventId = change.seenUpToEventId;
  if (change.bufferedSignals !== undefined) run.bufferedSignals = change.bufferedSignals;
  if (change.status !== undefined) run.status = change.status;
  // Unless the transition says what the run is now, what this engine knew of it is out of date.
  forgetAfterCommit(tx, run);
}

/** What delivering events to a workflow left: whether it leased a new task, and the run's task after it. */
export interface Delivered {
  leasedNewTask: boolean;
  /** The run's workflow task now: the pending one (made regular if it only carried updates) or the new one. */
  workflowTask: WorkflowTaskRow;
}

export interface DeliveryOptions {
  /** Lease a new workflow task to this lease id (eager dispatch) instead of queueing it. */
  leaseNewTaskAs?: string | undefined;
  /** The run's workflow task, already read under the run's lock (null: it has none). */
  existingTask?: WorkflowTaskRow | null;
}

/**
 * Records events the workflow must see (an activity result, a fired timer)
 * and makes sure a workflow task will deliver them: a new one if none is
 * pending; a pending one picks them up; a leased one is followed by another.
 */
export async function deliverToWorkflow(
  ctx: EngineContext,
  tx: Queryable,
  run: RunRow,
  newEvents: readonly NewEvent[],
  notify: (key: string) => void,
  options: DeliveryOptions = {},
): Promise<Delivered> {
  const now = ctx.clock.now();
  const existing =
    options.existingTask === undefined
      ? await getWorkflowTask(tx, run.namespace, run.runId)
      : (options.existingTask ?? undefined);
  const all: NewEvent[] = [...newEvents];
  let leasedNewTask = false;
  let workflowTask: WorkflowTaskRow;
  if (!existing) {
    all.push({ type: 'WorkflowTaskScheduled', attributes: { taskQueue: run.taskQueue } });
    if (options.leaseNewTaskAs) {
      // Eager dispatch: the caller hands this task to its worker, so no poller needs waking.
      const lease = {
        leaseId: options.leaseNewTaskAs,
        leasedAt: now,
        lastEventIdAtLease: run.nextEventId + all.length - 1,
      };
      await insertWorkflowTask(tx, { ...run, visibleAt: now + run.workflowTaskTimeoutMs, lease });
      workflowTask = { ...queuedWorkflowTask(run, now + run.workflowTaskTimeoutMs), ...lease };
      leasedNewTask = true;
    } else {
      await insertWorkflowTask(tx, { ...run, visibleAt: now });
      workflowTask = queuedWorkflowTask(run, now);
      notify(notifyKeys.workflowQueue(run.namespace, run.taskQueue));
    }
  } else if (existing.speculative) {
    // A task that only carried updates now delivers events too: it must be recorded.
    all.push({ type: 'WorkflowTaskScheduled', attributes: { taskQueue: run.taskQueue } });
    await makeTaskRegular(tx, run.namespace, run.runId);
    workflowTask = { ...existing, speculative: false };
  } else {
    workflowTask = existing;
  }
  await appendToRun(tx, run, numberEvents(run, all, now));
  return { leasedNewTask, workflowTask };
}

/** A workflow task as `insertWorkflowTask` queues it, claimable from `visibleAt`. */
export function queuedWorkflowTask(
  run: Pick<RunRow, 'namespace' | 'runId' | 'workflowId' | 'workflowType' | 'taskQueue'>,
  visibleAt: number,
): WorkflowTaskRow {
  return {
    namespace: run.namespace,
    runId: run.runId,
    workflowId: run.workflowId,
    workflowType: run.workflowType,
    taskQueue: run.taskQueue,
    attempt: 1,
    visibleAt,
    leaseId: null,
    leasedAt: null,
    lastEventIdAtLease: null,
    lastFailure: null,
    speculative: false,
    updatesPending: false,
  };
}

/** The run must exist and be running for a worker's report to apply. */
export function requireRunning(run: RunRow | undefined, what: string): RunRow {
  if (!run) throw new TidewayApiError('NotFound', `${what}: the run no longer exists`);
  if (run.status !== 'running') {
    throw new TidewayApiError(
      'NotFound',
      `${what}: workflow "${run.workflowId}" is not running (status: ${run.status}); the task is no longer needed`,
    );
  }
  return run;
}

export function payloadBytes(value: unknown): number {
  return value === undefined ? 0 : Buffer.byteLength(JSON.stringify(value));
}

/** Rejects a value over the payload limit with a message that says what to do instead. */
export function checkPayloadSize(ctx: EngineContext, value: unknown, what: string): void {
  const size = payloadBytes(value);
  if (size > ctx.maxPayloadBytes) {
    throw new TidewayApiError(
      'PayloadTooLarge',
      `${what} is ${formatBytes(size)}, over the ${formatBytes(ctx.maxPayloadBytes)} payload limit; ` +
        'store large data elsewhere (a file or object store) and pass a reference, or raise maxPayloadBytes',
    );
  }
}

function formatBytes(n: number): string {
  return n >= 1024 * 1024 ? `${(n / 1024 / 1024).toFixed(1)} MB` : `${(n / 1024).toFixed(1)} KB`;
}

export const NAMESPACE_PATTERN = /^[A-Za-z0-9][A-Za-z0-9._-]{0,199}$/;

export function checkNamespace(namespace: string): void {
  if (!NAMESPACE_PATTERN.test(namespace)) {
    throw new TidewayApiError(
      'InvalidArgument',
      `invalid namespace "${namespace.slice(0, 50)}": use 1-200 letters, digits, '.', '_' or '-'`,
    );
  }
}
