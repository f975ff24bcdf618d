import type { Failure } from '../protocol/index.js';
import { genericPlan, type Queryable, type Statement, writeLater } from './db.js';
import {
  claimAndLook,
  type NextVisibleRow,
  type NextVisibleTask,
  type QueueClaim,
  toNextVisible,
} from './next-visible.js';
import type { RunRow } from './runs.js';

/** The (at most one) workflow task of a run. */
export interface WorkflowTaskRow {
  namespace: string;
  runId: string;
  workflowId: string;
  workflowType: string;
  taskQueue: string;
  attempt: number;
  visibleAt: number;
  leaseId: string | null;
  leasedAt: number | null;
  lastEventIdAtLease: number | null;
  lastFailure: Failure | null;
  /** Created only to carry updates; see engine/updates.ts. */
  speculative: boolean;
  /** An update was requested since the task was created. */
  updatesPending: boolean;
}

const COLUMNS = `namespace, run_id AS "runId", workflow_id AS "workflowId", workflow_type AS "workflowType",
  task_queue AS "taskQueue", attempt, visible_at AS "visibleAt", lease_id AS "leaseId", leased_at AS "leasedAt",
  last_event_id_at_lease AS "lastEventIdAtLease", last_failure AS "lastFailure", speculative,
  updates_pending AS "updatesPending"`;

const GET_WORKFLOW_TASK_SQL = genericPlan(`SELECT ${COLUMNS} FROM workflow_tasks WHERE namespace = $1 AND run_id = $2`);

export async function insertWorkflowTask(
  q: Queryable,
  task: Pick<WorkflowTaskRow, 'namespace' | 'runId' | 'workflowId' | 'workflowType' | 'taskQueue' | 'visibleAt'> & {
    speculative?: boolean;
    /** Leased as it is inserted (eager dispatch); `visibleAt` is then when the lease expires. */
    lease?: { leaseId: string; leasedAt: number; lastEventIdAtLease: number } | undefined;
  },
): Promise<void> {
  await writeLater(
    q,
    genericPlan(`INSERT INTO workflow_tasks (namespace, run_id, workflow_id, workflow_type, task_queue, visible_at,
       speculative, updates_pending, lease_id, leased_at, last_event_id_at_lease)
     VALUES ($1, $2, $3, $4, $5, $6, $7, $7, $8, $9, $10)`),
    [
      task.namespace,
      task.runId,
      task.workflowId,
      task.workflowType,
      task.taskQueue,
      task.visibleAt,
      task.speculative ?? false,
      task.lease?.leaseId ?? null,
      task.lease?.leasedAt ?? null,
      task.lease?.lastEventIdAtLease ?? null,
    ],
  );
}

export async function getWorkflowTask(
  q: Queryable,
  namespace: string,
  runId: string,
): Promise<WorkflowTaskRow | undefined> {
  const { sql, params } = workflowTaskStatement(namespace, runId);
  return (await q.query<WorkflowTaskRow>(sql, params))[0];
}

/** `getWorkflowTask`'s statement, to send with the lock before it (see `queryEach`); its rows are `WorkflowTaskRow`s. */
export function workflowTaskStatement(namespace: string, runId: string): Statement {
  return {
    sql: GET_WORKFLOW_TASK_SQL,
    params: [namespace, runId],
  };
}

/** The workflow tasks of the given runs (a run has at most one), in one statement. */
export async function getWorkflowTasks(
  q: Queryable,
  keys: readonly { namespace: string; runId: string }[],
): Promise<WorkflowTaskRow[]> {
  if (keys.length === 0) return [];
  return q.query<WorkflowTaskRow>(
    `SELECT ${COLUMNS} FROM workflow_tasks
     WHERE (namespace, run_id) IN (SELECT * FROM unnest($1::text[], $2::text[]))`,
    [keys.map((k) => k.namespace), keys.map((k) => k.runId)],
  );
}

/**
 * Claims the oldest visible task of a queue whose workflow type the poller
 * can run. SKIP LOCKED lets many pollers claim different tasks at once. A
 * task whose previous lease expired counts as a new attempt.
 */
export interface ClaimedWorkflowTaskExtras {
  nextEventId: number;
  seenUpToEventId: number;
  /** The previous attempt's lease ran out (its worker died or hung): this claim is its retry. */
  leaseExpired: boolean;
  /** The task's run as the claim read it (not locked), without its buffered signal names. */
  run: Omit<RunRow, 'bufferedSignals'>;
}

/** The run's columns a claim returns beside the task's, under these names. */
type ClaimedRunColumns = {
  runStatus: RunRow['status'];
  runRequestId: string | null;
  runWorkflowTaskTimeoutMs: number;
  runStartTime: number;
  runCloseTime: number | null;
  runResult: RunRow['result'];
  runFailure: RunRow['failure'];
  runNextRunId: string | null;
  runExecutionDeadline: number | null;
  runParentRunId: string | null;
  runParentInitiatedEventId: number | null;
  runParentClosePolicy: RunRow['parentClosePolicy'];
  runHasChildren: boolean;
  runHasUpdates: boolean;
};

type ClaimedRow = WorkflowTaskRow & Omit<ClaimedWorkflowTaskExtras, 'run'> & ClaimedRunColumns & { queuedAt: number };

/**
 * Planned for each call, unlike most statements here: a plan kept from an empty queue joins the claimed
 * rows back by scanning whole indexes (`test/generic-plans.test.ts` saw it after ANALYZE of empty tables).
 */
const CLAIM_WORKFLOW_TASKS_SQL = `WITH candidate AS (
       SELECT t.namespace, t.run_id, t.lease_id AS previous_lease, t.visible_at AS queued_at FROM workflow_tasks t
       WHERE t.namespace = $1 AND t.task_queue = $2 AND t.visible_at <= $3::bigint AND t.workflow_type = ANY($4::text[])
       ORDER BY t.visible_at LIMIT $6::int FOR UPDATE SKIP LOCKED
     ), claimed AS (
       UPDATE workflow_tasks t SET
         attempt = CASE WHEN t.lease_id IS NULL THEN t.attempt ELSE t.attempt + 1 END,
         lease_id = $5, leased_at = $3::bigint,
         visible_at = $3::bigint + r.workflow_task_timeout_ms,
         last_event_id_at_lease = r.next_event_id - 1
       FROM candidate c, runs r
       WHERE t.namespace = c.namespace AND t.run_id = c.run_id AND r.namespace = t.namespace AND r.run_id = t.run_id
       RETURNING t.*, r.next_event_id, r.seen_up_to_event_id, c.previous_lease IS NOT NULL AS lease_expired,
         c.queued_at, r.status, r.request_id, r.workflow_task_timeout_ms, r.start_time, r.close_time, r.result,
         r.failure, r.next_run_id, r.execution_deadline, r.parent_run_id, r.parent_initiated_event_id,
         r.parent_close_policy, r.has_children, r.has_updates
     )
     SELECT namespace, run_id AS "runId", workflow_id AS "workflowId", workflow_type AS "workflowType",
       task_queue AS "taskQueue", attempt, visible_at AS "visibleAt", lease_id AS "leaseId", leased_at AS "leasedAt",
       last_event_id_at_lease AS "lastEventIdAtLease", last_failure AS "lastFailure", speculative,
       updates_pending AS "updatesPending", next_event_id AS "nextEventId", seen_up_to_event_id AS "seenUpToEventId",
       lease_expired AS "leaseExpired", queued_at AS "queuedAt", status AS "runStatus", request_id AS "runRequestId",
       workflow_task_timeout_ms AS "runWorkflowTaskTimeoutMs", start_time AS "runStartTime",
       close_time AS "runCloseTime", result AS "runResult", failure AS "runFailure", next_run_id AS "runNextRunId",
       execution_deadline AS "runExecutionDeadline", parent_run_id AS "runParentRunId",
       parent_initiated_event_id AS "runParentInitiatedEventId", parent_close_policy AS "runParentClosePolicy",
       has_children AS "runHasChildren", has_updates AS "runHasUpdates"
     FROM claimed`;

function claimWorkflowTasksStatement(args: QueueClaim): Statement {
  return {
    sql: CLAIM_WORKFLOW_TASKS_SQL,
    params: [args.namespace, args.taskQueue, args.now, args.types, args.leaseId, args.limit],
  };
}

/** RETURNING keeps no order: oldest first, as they were picked (by when they became claimable). */
function inClaimOrder(rows: ClaimedRow[]): (WorkflowTaskRow & ClaimedWorkflowTaskExtras)[] {
  return rows.sort((a, b) => a.queuedAt - b.queuedAt).map(splitClaimedRow);
}

/** A claimed row as the task, what the claim saw, and the task's run. */
function splitClaimedRow(row: ClaimedRow): WorkflowTaskRow & ClaimedWorkflowTaskExtras {
  const {
    queuedAt: _,
    runStatus,
    runRequestId,
    runWorkflowTaskTimeoutMs,
    runStartTime,
    runCloseTime,
    runResult,
    runFailure,
    runNextRunId,
    runExecutionDeadline,
    runParentRunId,
    runParentInitiatedEventId,
    runParentClosePolicy,
    runHasChildren,
    runHasUpdates,
    ...task
  } = row;
  return {
    ...task,
    run: {
      namespace: task.namespace,
      runId: task.runId,
      workflowId: task.workflowId,
      workflowType: task.workflowType,
      taskQueue: task.taskQueue,
      status: runStatus,
      requestId: runRequestId,
      nextEventId: task.nextEventId,
      seenUpToEventId: task.seenUpToEventId,
      workflowTaskTimeoutMs: runWorkflowTaskTimeoutMs,
      startTime: runStartTime,
      closeTime: runCloseTime,
      result: runResult,
      failure: runFailure,
      nextRunId: runNextRunId,
      executionDeadline: runExecutionDeadline,
      parentRunId: runParentRunId,
      parentInitiatedEventId: runParentInitiatedEventId,
      parentClosePolicy: runParentClosePolicy,
      hasChildren: runHasChildren,
      hasUpdates: runHasUpdates,
    },
  };
}

export async function claimWorkflowTasks(
  q: Queryable,
  args: QueueClaim,
): Promise<(WorkflowTaskRow & ClaimedWorkflowTaskExtras)[]> {
  const { sql, params } = claimWorkflowTasksStatement(args);
  return inClaimOrder(await q.query<ClaimedRow>(sql, params));
}

/** Claims as `claimWorkflowTasks` does, and looks at the queue it leaves (see `claimAndLook`). */
export async function claimWorkflowTasksAndLook(
  q: Queryable,
  args: QueueClaim,
): Promise<{ rows: (WorkflowTaskRow & ClaimedWorkflowTaskExtras)[]; queueAfter: NextVisibleTask }> {
  const { claimed, queueAfter } = await claimAndLook<ClaimedRow>(
    q,
    claimWorkflowTasksStatement(args),
    nextWorkflowTaskVisibleStatement(args.namespace, args.taskQueue, args.now),
  );
  return { rows: inClaimOrder(claimed), queueAfter };
}

const NEXT_WORKFLOW_TASK_VISIBLE_SQL = genericPlan(`SELECT (SELECT min(visible_at) FROM workflow_tasks
             WHERE namespace = $1 AND task_queue = $2 AND visible_at > $3::bigint) AS at,
            EXISTS (SELECT 1 FROM workflow_tasks
                    WHERE namespace = $1 AND task_queue = $2 AND visible_at <= $3::bigint) AS "visibleNow"`);

function nextWorkflowTaskVisibleStatement(namespace: string, taskQueue: string, now: number): Statement {
  return {
    sql: NEXT_WORKFLOW_TASK_VISIBLE_SQL,
    params: [namespace, taskQueue, now],
  };
}

/**
 * When the next not-yet-visible task of a queue becomes claimable, so a waiting poll can wake then;
 * and whether a task is claimable already (held by a concurrent claim, or of types the poller lacks).
 */
export async function nextWorkflowTaskVisibleAt(
  q: Queryable,
  namespace: string,
  taskQueue: string,
  now: number,
): Promise<NextVisibleTask> {
  const { sql, params } = nextWorkflowTaskVisibleStatement(namespace, taskQueue, now);
  return toNextVisible(await q.query<NextVisibleRow>(sql, params));
}

/** An update was requested: the run's task must look for updates when it is claimed and completed. */
export async function flagUpdatesPending(q: Queryable, namespace: string, runId: string): Promise<void> {
  await q.query('UPDATE workflow_tasks SET updates_pending = true WHERE namespace = $1 AND run_id = $2', [
    namespace,
    runId,
  ]);
}

/** Events arrived for a task created only for updates: it now has to be recorded like any other. */
export async function makeTaskRegular(q: Queryable, namespace: string, runId: string): Promise<void> {
  await q.query('UPDATE workflow_tasks SET speculative = false WHERE namespace = $1 AND run_id = $2', [
    namespace,
    runId,
  ]);
}

export async function deleteWorkflowTask(q: Queryable, namespace: string, runId: string): Promise<void> {
  await writeLater(q, genericPlan('DELETE FROM workflow_tasks WHERE namespace = $1 AND run_id = $2'), [
    namespace,
    runId,
  ]);
}

/**
 * Deletes everything a closed run still has pending: its workflow task,
 * activities and timers, in one statement.
 */
export async function deleteRunPendingWork(q: Queryable, namespace: string, runId: string): Promise<void> {
  await writeLater(
    q,
    genericPlan(`WITH activities AS (DELETE FROM activity_tasks WHERE namespace = $1 AND run_id = $2),
          timers AS (DELETE FROM timers WHERE namespace = $1 AND run_id = $2)
     DELETE FROM workflow_tasks WHERE namespace = $1 AND run_id = $2`),
    [namespace, runId],
  );
}

/** Puts a failed task back, claimable again at `visibleAt`, remembering why it failed. */
export async function retryWorkflowTask(
  q: Queryable,
  args: { namespace: string; runId: string; visibleAt: number; failure: Failure },
): Promise<void> {
  await q.query(
    `UPDATE workflow_tasks SET attempt = attempt + 1, lease_id = NULL, leased_at = NULL, visible_at = $3,
       last_failure = $4::jsonb WHERE namespace = $1 AND run_id = $2`,
    [args.namespace, args.runId, args.visibleAt, JSON.stringify(args.failure)],
  );
}

/** The failing workflow tasks (failed and awaiting a retry, or being retried) among some runs. */
export async function listFailingWorkflowTasks(
  q: Queryable,
  namespace: string,
  runIds: readonly string[],
): Promise<WorkflowTaskRow[]> {
  if (runIds.length === 0) return [];
  return q.query<WorkflowTaskRow>(
    `SELECT ${COLUMNS} FROM workflow_tasks WHERE namespace = $1 AND run_id = ANY($2::text[]) AND last_failure IS NOT NULL`,
    [namespace, runIds],
  );
}
