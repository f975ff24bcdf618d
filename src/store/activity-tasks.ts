import type { Failure, Payload, RetryPolicy } from '../protocol/index.js';
import { genericPlan, type Queryable, type Statement, writeLater } from './db.js';
import {
  claimAndLook,
  type NextVisibleRow,
  type NextVisibleTask,
  type QueueClaim,
  toNextVisible,
} from './next-visible.js';

/** While leased, an activity is never claimable; its timer row enforces its timeouts. */
export const NEVER = 8_000_000_000_000_000;

/** One scheduled activity across all its attempts. */
export interface ActivityTaskRow {
  namespace: string;
  runId: string;
  scheduledEventId: number;
  workflowId: string;
  workflowType: string;
  activityId: string;
  activityType: string;
  taskQueue: string;
  input: Payload[];
  attempt: number;
  scheduledAt: number;
  visibleAt: number;
  leaseId: string | null;
  startedAt: number | null;
  scheduleToStartMs: number | null;
  startToCloseMs: number | null;
  scheduleToCloseMs: number | null;
  heartbeatMs: number | null;
  retryPolicy: RetryPolicy;
  heartbeatDetails: Payload | null;
  lastHeartbeatAt: number | null;
  lastFailure: Failure | null;
  cancelRequested: boolean;
}

const COLUMNS = `namespace, run_id AS "runId", scheduled_event_id AS "scheduledEventId", workflow_id AS "workflowId",
  workflow_type AS "workflowType", activity_id AS "activityId", activity_type AS "activityType",
  task_queue AS "taskQueue", input, attempt, scheduled_at AS "scheduledAt", visible_at AS "visibleAt",
  lease_id AS "leaseId", started_at AS "startedAt", schedule_to_start_ms AS "scheduleToStartMs",
  start_to_close_ms AS "startToCloseMs", schedule_to_close_ms AS "scheduleToCloseMs", heartbeat_ms AS "heartbeatMs",
  retry_policy AS "retryPolicy", heartbeat_details AS "heartbeatDetails", last_heartbeat_at AS "lastHeartbeatAt",
  last_failure AS "lastFailure", cancel_requested AS "cancelRequested"`;

const INSERT_ACTIVITY_TASK_SQL = genericPlan(`INSERT INTO activity_tasks (namespace, run_id, scheduled_event_id,
         workflow_id, workflow_type, activity_id, activity_type, task_queue, input, scheduled_at, visible_at,
         schedule_to_start_ms, start_to_close_ms, schedule_to_close_ms, heartbeat_ms, retry_policy, lease_id, started_at)
       VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9::jsonb, $10, $11, $12, $13, $14, $15, $16::jsonb, $17, $18)`);

const ACTIVITY_TASK_BY_KEY = `SELECT ${COLUMNS} FROM activity_tasks
     WHERE namespace = $1 AND run_id = $2 AND scheduled_event_id = $3::int`;
const GET_ACTIVITY_TASK_SQL = {
  read: genericPlan(ACTIVITY_TASK_BY_KEY),
  lock: genericPlan(`${ACTIVITY_TASK_BY_KEY} FOR UPDATE`),
  nowait: genericPlan(`${ACTIVITY_TASK_BY_KEY} FOR UPDATE NOWAIT`),
};

export type NewActivityTask = Omit<
  ActivityTaskRow,
  'attempt' | 'leaseId' | 'startedAt' | 'heartbeatDetails' | 'lastHeartbeatAt' | 'lastFailure' | 'cancelRequested'
>;

/** An attempt leased as it is inserted: eager dispatch to the worker whose workflow task scheduled it. */
export interface EagerLease {
  leaseId: string;
  startedAt: number;
}

export async function insertActivityTasks(
  q: Queryable,
  tasks: readonly (NewActivityTask & { lease?: EagerLease | undefined })[],
): Promise<void> {
  for (const t of tasks) {
    await writeLater(q, INSERT_ACTIVITY_TASK_SQL, [
      t.namespace,
      t.runId,
      t.scheduledEventId,
      t.workflowId,
      t.workflowType,
      t.activityId,
      t.activityType,
      t.taskQueue,
      JSON.stringify(t.input),
      t.scheduledAt,
      t.lease ? NEVER : t.visibleAt,
      t.scheduleToStartMs,
      t.startToCloseMs,
      t.scheduleToCloseMs,
      t.heartbeatMs,
      JSON.stringify(t.retryPolicy),
      t.lease?.leaseId ?? null,
      t.lease?.startedAt ?? null,
    ]);
  }
}

export async function getActivityTask(
  q: Queryable,
  namespace: string,
  runId: string,
  scheduledEventId: number,
  forUpdate: boolean | 'nowait' = false,
): Promise<ActivityTaskRow | undefined> {
  const { sql, params } = activityTaskStatement(namespace, runId, scheduledEventId, forUpdate);
  return (await q.query<ActivityTaskRow>(sql, params))[0];
}

/** `getActivityTask`'s statement, to send with the run's lock (see `queryEach`); its rows are `ActivityTaskRow`s. */
export function activityTaskStatement(
  namespace: string,
  runId: string,
  scheduledEventId: number,
  forUpdate: boolean | 'nowait' = false,
): Statement {
  return {
    sql: GET_ACTIVITY_TASK_SQL[forUpdate === 'nowait' ? 'nowait' : forUpdate ? 'lock' : 'read'],
    params: [namespace, runId, scheduledEventId],
  };
}

export async function listRunActivityTasks(q: Queryable, namespace: string, runId: string): Promise<ActivityTaskRow[]> {
  return q.query<ActivityTaskRow>(
    `SELECT ${COLUMNS} FROM activity_tasks WHERE namespace = $1 AND run_id = $2 ORDER BY scheduled_event_id`,
    [namespace, runId],
  );
}

/**
 * Planned for each call, unlike most statements here: a plan kept from an empty queue joins the claimed
 * rows back by scanning whole indexes (`test/generic-plans.test.ts` saw it after ANALYZE of empty tables).
 */
const CLAIM_ACTIVITY_TASKS_SQL = `WITH candidate AS (
       SELECT namespace, run_id, scheduled_event_id FROM activity_tasks
       WHERE namespace = $1 AND task_queue = $2 AND visible_at <= $3::bigint AND activity_type = ANY($4::text[])
       ORDER BY visible_at LIMIT $6::int FOR UPDATE SKIP LOCKED
     )
     UPDATE activity_tasks t SET lease_id = $5, started_at = $3::bigint, last_heartbeat_at = NULL, visible_at = ${NEVER}
     FROM candidate c
     WHERE t.namespace = c.namespace AND t.run_id = c.run_id AND t.scheduled_event_id = c.scheduled_event_id
     RETURNING ${COLUMNS.replace(/(^|,\s*)(\w+)/g, '$1t.$2')}`;

function claimActivityTasksStatement(args: QueueClaim): Statement {
  return {
    sql: CLAIM_ACTIVITY_TASKS_SQL,
    params: [args.namespace, args.taskQueue, args.now, args.types, args.leaseId, args.limit],
  };
}

/** RETURNING keeps no order: oldest scheduled first. */
function inClaimOrder(rows: ActivityTaskRow[]): ActivityTaskRow[] {
  return rows.sort((a, b) => a.scheduledAt - b.scheduledAt);
}

/** Claims the oldest visible activities of a queue whose types the poller has registered. */
export async function claimActivityTasks(q: Queryable, args: QueueClaim): Promise<ActivityTaskRow[]> {
  const { sql, params } = claimActivityTasksStatement(args);
  return inClaimOrder(await q.query<ActivityTaskRow>(sql, params));
}

/** Claims as `claimActivityTasks` does, and looks at the queue it leaves (see `claimAndLook`). */
export async function claimActivityTasksAndLook(
  q: Queryable,
  args: QueueClaim,
): Promise<{ rows: ActivityTaskRow[]; queueAfter: NextVisibleTask }> {
  const { claimed, queueAfter } = await claimAndLook<ActivityTaskRow>(
    q,
    claimActivityTasksStatement(args),
    nextActivityTaskVisibleStatement(args.namespace, args.taskQueue, args.now),
  );
  return { rows: inClaimOrder(claimed), queueAfter };
}

const NEXT_ACTIVITY_TASK_VISIBLE_SQL = genericPlan(`SELECT (SELECT min(visible_at) FROM activity_tasks
             WHERE namespace = $1 AND task_queue = $2 AND visible_at > $3::bigint AND visible_at < ${NEVER}) AS at,
            EXISTS (SELECT 1 FROM activity_tasks
                    WHERE namespace = $1 AND task_queue = $2 AND visible_at <= $3::bigint) AS "visibleNow"`);

function nextActivityTaskVisibleStatement(namespace: string, taskQueue: string, now: number): Statement {
  return {
    sql: NEXT_ACTIVITY_TASK_VISIBLE_SQL,
    params: [namespace, taskQueue, now],
  };
}

export async function nextActivityTaskVisibleAt(
  q: Queryable,
  namespace: string,
  taskQueue: string,
  now: number,
): Promise<NextVisibleTask> {
  const { sql, params } = nextActivityTaskVisibleStatement(namespace, taskQueue, now);
  return toNextVisible(await q.query<NextVisibleRow>(sql, params));
}

/** Deletes an activity's task and its timeout timer (`timerKey`) in one statement. */
export async function deleteActivityTaskAndTimer(
  q: Queryable,
  namespace: string,
  runId: string,
  scheduledEventId: number,
  timerKey: string,
): Promise<void> {
  await writeLater(
    q,
    genericPlan(`WITH timer AS (DELETE FROM timers WHERE namespace = $1 AND run_id = $2 AND timer_key = $4)
     DELETE FROM activity_tasks WHERE namespace = $1 AND run_id = $2 AND scheduled_event_id = $3`),
    [namespace, runId, scheduledEventId, timerKey],
  );
}

/** Schedules the next attempt after a failure or timeout: unleased, claimable at `visibleAt`. */
export async function retryActivityTask(
  q: Queryable,
  args: { namespace: string; runId: string; scheduledEventId: number; visibleAt: number; failure: Failure },
): Promise<void> {
  await q.query(
    `UPDATE activity_tasks SET attempt = attempt + 1, lease_id = NULL, started_at = NULL, visible_at = $4,
       last_failure = $5::jsonb WHERE namespace = $1 AND run_id = $2 AND scheduled_event_id = $3`,
    [args.namespace, args.runId, args.scheduledEventId, args.visibleAt, JSON.stringify(args.failure)],
  );
}

/** The activity of a run with the given activity id (ids are unique within a run). */
export async function findActivityTaskById(
  q: Queryable,
  namespace: string,
  runId: string,
  activityId: string,
): Promise<ActivityTaskRow | undefined> {
  const rows = await q.query<ActivityTaskRow>(
    `SELECT ${COLUMNS} FROM activity_tasks WHERE namespace = $1 AND run_id = $2 AND activity_id = $3 FOR UPDATE`,
    [namespace, runId, activityId],
  );
  return rows[0];
}

export async function markActivityCancelRequested(
  q: Queryable,
  namespace: string,
  runId: string,
  scheduledEventId: number,
): Promise<void> {
  await q.query(
    'UPDATE activity_tasks SET cancel_requested = true WHERE namespace = $1 AND run_id = $2 AND scheduled_event_id = $3',
    [namespace, runId, scheduledEventId],
  );
}

/** Records a heartbeat for the current lease; false when the lease is no longer held. */
export interface HeartbeatedActivity {
  cancelRequested: boolean;
  /** The heartbeat before this one, if any (ms since epoch). */
  previousHeartbeatAt: number | null;
  workflowId: string;
  activityId: string;
  activityType: string;
  attempt: number;
}

export async function recordHeartbeat(
  q: Queryable,
  args: {
    namespace: string;
    runId: string;
    scheduledEventId: number;
    leaseId: string;
    now: number;
    details: Payload | undefined;
  },
): Promise<HeartbeatedActivity | undefined> {
  const rows = await q.query<HeartbeatedActivity>(
    `WITH previous AS (
       SELECT last_heartbeat_at FROM activity_tasks
       WHERE namespace = $1 AND run_id = $2 AND scheduled_event_id = $3 AND lease_id = $4 FOR UPDATE
     )
     UPDATE activity_tasks t SET last_heartbeat_at = $5, heartbeat_details = COALESCE($6::jsonb, heartbeat_details)
     FROM previous
     WHERE namespace = $1 AND run_id = $2 AND scheduled_event_id = $3 AND lease_id = $4
     RETURNING cancel_requested AS "cancelRequested", workflow_id AS "workflowId", activity_id AS "activityId",
       activity_type AS "activityType", attempt, previous.last_heartbeat_at AS "previousHeartbeatAt"`,
    [
      args.namespace,
      args.runId,
      args.scheduledEventId,
      args.leaseId,
      args.now,
      args.details === undefined ? null : JSON.stringify(args.details),
    ],
  );
  return rows[0];
}
