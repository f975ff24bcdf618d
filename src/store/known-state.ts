import { genericPlan, type Queryable, writeLater } from './db.js';
import type { RunRow } from './runs.js';
import type { WorkflowTaskRow } from './workflow-tasks.js';

/*
 * Guards for a transition computed from what the engine knew of a run
 * instead of from a read (see engine/known-runs.ts). Each is held back like
 * a write and goes ahead of the transition's writes in the same message; if
 * the rows are not as expected it raises KNOWN_STATE_STALE (migration 014),
 * the writes after it never run, and the transaction rolls back.
 *
 * A guard checks every column a completion reads that can change; the other
 * columns it reads never change once the row exists (see the classification
 * in engine/known-runs.ts, which a test keeps complete).
 */

/**
 * Locks the run, like every transition's first statement, and checks it. A
 * concurrent transition holding the lock is waited for, and the check is
 * then made on the row it committed (a locked row is read again at its
 * latest version). The checks are in the select list, not the WHERE clause,
 * so the row is found by its primary key alone: a condition on the status
 * would let the kept plan pick the index of running runs instead.
 */
const KNOWN_RUN_SQL = genericPlan(`SELECT tideway_expect_known(COALESCE((
       SELECT status = 'running' AND next_event_id = $3::int AND seen_up_to_event_id = $4::int
         AND parent_run_id IS NOT DISTINCT FROM $5::text AND has_children = $6::boolean AND has_updates = $7::boolean
       FROM runs WHERE namespace = $1 AND run_id = $2 FOR UPDATE), false), $2)`);

/**
 * The run's task rows, checked by a separate statement after the run's lock
 * is held, so it sees what committed while the lock was waited for (READ
 * COMMITTED takes a snapshot per statement). The activity is locked, as a
 * completion that reads it does.
 */
const KNOWN_TASKS_SQL = genericPlan(`SELECT tideway_expect_known(
       ($3::int IS NULL OR COALESCE((
         SELECT lease_id = $4::text AND attempt = $5::int AND cancel_requested = $6::boolean
         FROM activity_tasks WHERE namespace = $1 AND run_id = $2 AND scheduled_event_id = $3::int FOR UPDATE), false))
       AND CASE WHEN $7::boolean THEN COALESCE((
         SELECT lease_id IS NOT DISTINCT FROM $8::text AND attempt = $9::int
           AND leased_at IS NOT DISTINCT FROM $10::bigint AND last_event_id_at_lease IS NOT DISTINCT FROM $11::int
           AND speculative = $12::boolean AND updates_pending = $13::boolean
         FROM workflow_tasks WHERE namespace = $1 AND run_id = $2), false)
       ELSE NOT EXISTS (SELECT 1 FROM workflow_tasks WHERE namespace = $1 AND run_id = $2) END, $2)`);

/** The columns of a run a known-state guard checks: those a completion reads that can change. */
export type GuardedRunColumns = Pick<
  RunRow,
  'namespace' | 'runId' | 'nextEventId' | 'seenUpToEventId' | 'parentRunId' | 'hasChildren' | 'hasUpdates'
>;

/** Fails the transaction unless the run is running and its changeable columns are as given. */
export async function expectKnownRun(q: Queryable, run: GuardedRunColumns): Promise<void> {
  await writeLater(q, KNOWN_RUN_SQL, [
    run.namespace,
    run.runId,
    run.nextEventId,
    run.seenUpToEventId,
    run.parentRunId,
    run.hasChildren ?? false,
    run.hasUpdates ?? false,
  ]);
}

/** A run's task rows as a known-state guard expects them. */
export interface KnownTasksExpectation {
  namespace: string;
  runId: string;
  /** The run's workflow task, or null when it must have none. */
  workflowTask: Pick<
    WorkflowTaskRow,
    'leaseId' | 'attempt' | 'leasedAt' | 'lastEventIdAtLease' | 'speculative' | 'updatesPending'
  > | null;
  /** An activity the transition ends, leased as given. */
  activity?: { scheduledEventId: number; leaseId: string; attempt: number; cancelRequested: boolean };
}

/** Fails the transaction unless the run's workflow task, and the activity if given, are as expected. */
export async function expectKnownTasks(q: Queryable, expected: KnownTasksExpectation): Promise<void> {
  const { activity, workflowTask: task } = expected;
  await writeLater(q, KNOWN_TASKS_SQL, [
    expected.namespace,
    expected.runId,
    activity?.scheduledEventId ?? null,
    activity?.leaseId ?? null,
    activity?.attempt ?? null,
    activity?.cancelRequested ?? null,
    task !== null,
    task?.leaseId ?? null,
    task?.attempt ?? null,
    task?.leasedAt ?? null,
    task?.lastEventIdAtLease ?? null,
    task?.speculative ?? null,
    task?.updatesPending ?? null,
  ]);
}

/**
 * Takes a workflow timer off the table, as `takeDueUserTimerStatement` does
 * (only if it is truly due at `now`), and checks it is the one known: set
 * by the event `startedEventId`. Raises when no such timer was due: the
 * transaction then rolls back, and the fire runs again on reads, which says
 * whether the timer is gone or not due yet.
 */
const KNOWN_TIMER_SQL = genericPlan(`WITH taken AS (
       DELETE FROM timers WHERE namespace = $1 AND run_id = $2 AND timer_key = $3 AND kind = 'user-timer'
         AND COALESCE((data->>'fireAt')::bigint, due_at) <= $4::bigint AND (data->>'startedEventId')::int = $5::int
       RETURNING 1
     )
     SELECT tideway_expect_known(EXISTS (SELECT 1 FROM taken), $2)`);

export async function expectKnownTimerTaken(
  q: Queryable,
  timer: { namespace: string; runId: string; timerKey: string; startedEventId: number },
  now: number,
): Promise<void> {
  await writeLater(q, KNOWN_TIMER_SQL, [timer.namespace, timer.runId, timer.timerKey, now, timer.startedEventId]);
}
