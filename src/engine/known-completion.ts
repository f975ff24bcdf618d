import {
  expectKnownRun,
  expectKnownTasks,
  isKnownStateStale,
  type Queryable,
  type RunRow,
  type WorkflowTaskRow,
} from '../store/index.js';
import type { EngineContext } from './context.js';
import type { KnownActivity, KnownRun, KnownTimer } from './known-runs.js';

// Completions sent on what this engine knows of their run, behind guards
// (see known-runs.ts): the first attempt uses what is known, if anything; if
// a guard finds the run changed, the completion runs again on reads.

/**
 * Runs `complete` on what is known of the run, and again on reads if a guard
 * finds it changed; in turn with the run's other completions on this engine.
 */
export function onKnownState<T>(
  ctx: EngineContext,
  namespace: string,
  runId: string,
  complete: (known: KnownRun | undefined) => Promise<T>,
): Promise<T> {
  return ctx.knownRuns.inTurn(namespace, runId, async () => {
    const known = ctx.knownRuns.take(namespace, runId);
    if (!known) return complete(undefined);
    try {
      return await complete(known);
    } catch (error) {
      if (!isKnownStateStale(error)) throw error;
      ctx.knownRuns.miss(namespace, runId);
      return complete(undefined);
    }
  });
}

/** A known run with the workflow task a completion reports on. */
export interface KnownWorkflowTaskCompletion {
  run: RunRow;
  task: WorkflowTaskRow & { lastEventIdAtLease: number; leasedAt: number };
  activities: ReadonlyMap<number, KnownActivity>;
  timers?: ReadonlyMap<string, KnownTimer> | undefined;
}

/**
 * The run and its workflow task as known, if that task is the one leased as
 * `leaseId`, with the guards that make the transaction fail unless the rows
 * still hold it; undefined when what is known does not fit (read instead).
 */
export async function knownWorkflowTask(
  ctx: EngineContext,
  tx: Queryable,
  known: KnownRun | undefined,
  leaseId: string,
): Promise<KnownWorkflowTaskCompletion | undefined> {
  const task = known?.workflowTask;
  if (!known || !task || task.leaseId !== leaseId || task.lastEventIdAtLease === null || task.leasedAt === null) {
    return undefined;
  }
  // Counted first: where a statement runs as it is issued (PGlite), a guard that fails throws here.
  ctx.knownRuns.sent();
  await expectKnownRun(tx, known.run);
  await expectKnownTasks(tx, { namespace: known.run.namespace, runId: known.run.runId, workflowTask: task });
  return {
    run: known.run,
    task: task as KnownWorkflowTaskCompletion['task'],
    activities: known.activities,
    timers: known.timers,
  };
}

/** A known run with the activity a completion reports on, and the run's workflow task. */
export interface KnownActivityCompletion {
  run: RunRow;
  activity: KnownActivity;
  workflowTask: WorkflowTaskRow | null;
  activities: ReadonlyMap<number, KnownActivity>;
  timers?: ReadonlyMap<string, KnownTimer> | undefined;
}

/** As `knownWorkflowTask`, for the activity scheduled at `scheduledEventId` and leased as `leaseId`. */
export async function knownActivity(
  ctx: EngineContext,
  tx: Queryable,
  known: KnownRun | undefined,
  scheduledEventId: number,
  leaseId: string,
): Promise<KnownActivityCompletion | undefined> {
  const activity = known?.activities.get(scheduledEventId);
  if (!known || !activity || activity.leaseId !== leaseId) return undefined;
  ctx.knownRuns.sent();
  await expectKnownRun(tx, known.run);
  await expectKnownTasks(tx, {
    namespace: known.run.namespace,
    runId: known.run.runId,
    workflowTask: known.workflowTask,
    activity: { scheduledEventId, leaseId, attempt: activity.attempt, cancelRequested: activity.cancelRequested },
  });
  return {
    run: known.run,
    activity,
    workflowTask: known.workflowTask,
    activities: known.activities,
    timers: known.timers,
  };
}

/** The workflow timers known after one fired (or none) and a completion started and cancelled others. */
export function timersAfter(
  before: ReadonlyMap<string, KnownTimer> | undefined,
  fired: string | undefined,
  change: { started: ReadonlyMap<string, KnownTimer>; cancelled: readonly string[] } | undefined,
): Map<string, KnownTimer> {
  const after = new Map(before);
  if (fired !== undefined) after.delete(fired);
  for (const key of change?.cancelled ?? []) after.delete(key);
  for (const [key, timer] of change?.started ?? []) after.set(key, timer);
  return after;
}

/** The activities known after one ended and others were scheduled. */
export function activitiesAfter(
  before: ReadonlyMap<number, KnownActivity>,
  ended: number | undefined,
  scheduled: readonly KnownActivity[],
): Map<number, KnownActivity> {
  const after = new Map(before);
  if (ended !== undefined) after.delete(ended);
  for (const activity of scheduled) after.set(activity.scheduledEventId, activity);
  return after;
}
