import type { Failure, ParentClosePolicy, Payload, WorkflowStatus } from '../protocol/index.js';
import { genericPlan, type Queryable, type Statement, writeLater } from './db.js';

/** A run row: one execution of a workflow id. */
export interface RunRow {
  namespace: string;
  runId: string;
  workflowId: string;
  workflowType: string;
  taskQueue: string;
  status: WorkflowStatus;
  requestId: string | null;
  nextEventId: number;
  seenUpToEventId: number;
  workflowTaskTimeoutMs: number;
  startTime: number;
  closeTime: number | null;
  result: Payload | null;
  failure: Failure | null;
  nextRunId: string | null;
  /** When the whole chain of runs (across continue-as-new) must be done by. */
  executionDeadline: number | null;
  /** For a child workflow: its parent run, the parent's event that started it, and the parent's close policy. */
  parentRunId: string | null;
  parentInitiatedEventId: number | null;
  parentClosePolicy: ParentClosePolicy | null;
  bufferedSignals?: string[];
  /** The run started children / received updates at some point. */
  hasChildren?: boolean;
  hasUpdates?: boolean;
}

const COLUMNS = `namespace, run_id AS "runId", workflow_id AS "workflowId", workflow_type AS "workflowType",
  task_queue AS "taskQueue", status, request_id AS "requestId", next_event_id AS "nextEventId",
  seen_up_to_event_id AS "seenUpToEventId", workflow_task_timeout_ms AS "workflowTaskTimeoutMs",
  start_time AS "startTime", close_time AS "closeTime", result, failure, next_run_id AS "nextRunId",
  execution_deadline AS "executionDeadline", parent_run_id AS "parentRunId",
  parent_initiated_event_id AS "parentInitiatedEventId", parent_close_policy AS "parentClosePolicy",
  buffered_signals AS "bufferedSignals", has_children AS "hasChildren", has_updates AS "hasUpdates"`;

const INSERT_RUN_SQL = genericPlan(`INSERT INTO runs (namespace, run_id, workflow_id, workflow_type, task_queue, status,
       request_id, next_event_id, seen_up_to_event_id, workflow_task_timeout_ms, start_time, execution_deadline,
       parent_run_id, parent_initiated_event_id, parent_close_policy)
     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15)`);
const LOCK_RUN_SQL = genericPlan(`SELECT ${COLUMNS} FROM runs WHERE namespace = $1 AND run_id = $2 FOR UPDATE`);
const LOCK_RUN_NOWAIT_SQL = genericPlan(
  `SELECT ${COLUMNS} FROM runs WHERE namespace = $1 AND run_id = $2 FOR UPDATE NOWAIT`,
);
const GET_RUN_SQL = genericPlan(`SELECT ${COLUMNS} FROM runs WHERE namespace = $1 AND run_id = $2`);
const ADVANCE_RUN_SQL = genericPlan(`WITH moved AS (
       UPDATE runs SET next_event_id = $4::int,
         seen_up_to_event_id = COALESCE($5::int, seen_up_to_event_id),
         status = COALESCE($6, status),
         close_time = COALESCE($7::bigint, close_time),
         result = COALESCE($8::jsonb, result),
         failure = COALESCE($9::jsonb, failure),
         next_run_id = COALESCE($10, next_run_id),
         buffered_signals = COALESCE($11::jsonb, buffered_signals)
       WHERE namespace = $1 AND run_id = $2 AND next_event_id = $3::int
       RETURNING 1)
     SELECT tideway_expect_run_moved(count(*), $2) FROM moved`);

export async function insertRun(q: Queryable, run: RunRow): Promise<void> {
  // Held back: a second running run of the id (unique violation) fails the transaction at commit, which
  // is where every start already handles it.
  await writeLater(q, INSERT_RUN_SQL, [
    run.namespace,
    run.runId,
    run.workflowId,
    run.workflowType,
    run.taskQueue,
    run.status,
    run.requestId,
    run.nextEventId,
    run.seenUpToEventId,
    run.workflowTaskTimeoutMs,
    run.startTime,
    run.executionDeadline,
    run.parentRunId,
    run.parentInitiatedEventId,
    run.parentClosePolicy,
  ]);
}

/**
 * Locks a run for a state transition; every transition on a run starts here.
 * `nowait` fails at once (LOCK_NOT_AVAILABLE) instead of waiting, for callers
 * already holding other rows, which must not wait for a run lock.
 */
export async function lockRun(
  q: Queryable,
  namespace: string,
  runId: string,
  options: { nowait?: boolean } = {},
): Promise<RunRow | undefined> {
  const { sql, params } = lockRunStatement(namespace, runId, options);
  return (await q.query<RunRow>(sql, params))[0];
}

/** `lockRun`'s statement, to send with the reads that follow it (see `queryEach`); its rows are `RunRow`s. */
export function lockRunStatement(namespace: string, runId: string, options: { nowait?: boolean } = {}): Statement {
  return {
    sql: options.nowait ? LOCK_RUN_NOWAIT_SQL : LOCK_RUN_SQL,
    params: [namespace, runId],
  };
}

/** A run by its key. */
export interface RunKey {
  namespace: string;
  runId: string;
}

/**
 * Locks the given runs that no other transition holds, in one statement, and
 * returns them; a run another transaction has locked (or that does not exist)
 * is left out. For callers that fire many runs' timers at once and must not
 * wait: a skipped run is tried again shortly.
 */
export async function lockRunsSkipLocked(q: Queryable, keys: readonly RunKey[]): Promise<RunRow[]> {
  if (keys.length === 0) return [];
  return q.query<RunRow>(
    `SELECT ${COLUMNS} FROM runs
     WHERE (namespace, run_id) IN (SELECT * FROM unnest($1::text[], $2::text[]))
     FOR UPDATE SKIP LOCKED`,
    [keys.map((k) => k.namespace), keys.map((k) => k.runId)],
  );
}

/** Which of the given runs exist, without locking them. */
export async function existingRuns(q: Queryable, keys: readonly RunKey[]): Promise<RunKey[]> {
  if (keys.length === 0) return [];
  return q.query<RunKey>(
    `SELECT namespace, run_id AS "runId" FROM runs
     WHERE (namespace, run_id) IN (SELECT * FROM unnest($1::text[], $2::text[]))`,
    [keys.map((k) => k.namespace), keys.map((k) => k.runId)],
  );
}

/** The given run of a workflow id, or its latest run when runId is omitted. */
export async function findRun(
  q: Queryable,
  namespace: string,
  workflowId: string,
  runId?: string,
): Promise<RunRow | undefined> {
  if (runId) {
    // By primary key alone, so the kept plan is the primary key's (a run id belongs to one workflow id).
    const run = (await q.query<RunRow>(GET_RUN_SQL, [namespace, runId]))[0];
    return run?.workflowId === workflowId ? run : undefined;
  }
  const rows = await q.query<RunRow>(
    `SELECT ${COLUMNS} FROM runs WHERE namespace = $1 AND workflow_id = $2 ORDER BY start_time DESC, run_id DESC LIMIT 1`,
    [namespace, workflowId],
  );
  return rows[0];
}

/**
 * What a start needs to know in one round trip: the run an earlier attempt of
 * this very request created, if any, and the id's latest run.
 */
export async function findRunsForStart(
  q: Queryable,
  namespace: string,
  workflowId: string,
  requestId: string | undefined,
): Promise<{ sameRequest: RunRow | undefined; latest: RunRow | undefined }> {
  const rows = await q.query<RunRow & { sameRequest: boolean }>(
    `(SELECT ${COLUMNS}, true AS "sameRequest" FROM runs
      WHERE namespace = $1 AND workflow_id = $2 AND $3::text IS NOT NULL AND request_id = $3 LIMIT 1)
     UNION ALL
     (SELECT ${COLUMNS}, false AS "sameRequest" FROM runs
      WHERE namespace = $1 AND workflow_id = $2 ORDER BY start_time DESC, run_id DESC LIMIT 1)`,
    [namespace, workflowId, requestId ?? null],
  );
  const strip = (row: (RunRow & { sameRequest: boolean }) | undefined): RunRow | undefined => {
    if (!row) return undefined;
    const { sameRequest: _, ...run } = row;
    return run;
  };
  return { sameRequest: strip(rows.find((r) => r.sameRequest)), latest: strip(rows.find((r) => !r.sameRequest)) };
}

/**
 * Fails the transaction (`isWorkflowIdUsed`) if the id has any run, when it
 * is sent: held back like a write, so the inserts that follow it travel in
 * the same message and never run when it fails.
 */
export async function expectNewWorkflowId(q: Queryable, namespace: string, workflowId: string): Promise<void> {
  await writeLater(
    q,
    `SELECT tideway_expect_new_workflow_id(
       EXISTS (SELECT 1 FROM runs WHERE namespace = $1 AND workflow_id = $2), $2)`,
    [namespace, workflowId],
  );
}

export async function findRunByRequestId(
  q: Queryable,
  namespace: string,
  workflowId: string,
  requestId: string,
): Promise<RunRow | undefined> {
  const rows = await q.query<RunRow>(
    `SELECT ${COLUMNS} FROM runs WHERE namespace = $1 AND workflow_id = $2 AND request_id = $3 LIMIT 1`,
    [namespace, workflowId, requestId],
  );
  return rows[0];
}

export interface RunAdvance {
  nextEventId: number;
  seenUpToEventId?: number;
  status?: WorkflowStatus;
  closeTime?: number;
  result?: Payload;
  failure?: Failure;
  nextRunId?: string;
  bufferedSignals?: string[];
}

/**
 * Moves a run forward, guarded by the next event id it was read with: a
 * transition computed from a stale read changes nothing and returns false.
 */
export async function advanceRun(
  q: Queryable,
  namespace: string,
  runId: string,
  expectedNextEventId: number,
  change: RunAdvance,
): Promise<void> {
  // Nothing waits for the answer: a run another transition moved first raises RUN_MOVED_CONCURRENTLY
  // (migration 011), which fails the transaction wherever the statement is sent.
  await writeLater(q, ADVANCE_RUN_SQL, [
    namespace,
    runId,
    expectedNextEventId,
    change.nextEventId,
    change.seenUpToEventId,
    change.status ?? null,
    change.closeTime,
    change.result === undefined ? null : JSON.stringify(change.result),
    change.failure === undefined ? null : JSON.stringify(change.failure),
    change.nextRunId ?? null,
    change.bufferedSignals === undefined ? null : JSON.stringify(change.bufferedSignals),
  ]);
}

/** Remembers that a run started children or received updates (see RunRow). */
export async function flagRun(
  q: Queryable,
  namespace: string,
  runId: string,
  flag: 'has_children' | 'has_updates',
): Promise<void> {
  await q.query(`UPDATE runs SET ${flag} = true WHERE namespace = $1 AND run_id = $2 AND NOT ${flag}`, [
    namespace,
    runId,
  ]);
}

/** Running children of a run, for its parent close policy. */
export async function listRunningChildren(q: Queryable, namespace: string, parentRunId: string): Promise<RunRow[]> {
  return q.query<RunRow>(
    `SELECT ${COLUMNS} FROM runs WHERE namespace = $1 AND parent_run_id = $2 AND status = 'running' ORDER BY run_id`,
    [namespace, parentRunId],
  );
}

export interface RunFilter {
  status?: WorkflowStatus | undefined;
  workflowType?: string | undefined;
  workflowId?: string | undefined;
  /** Only runs whose workflow task failed and is being retried (the small workflow_tasks table drives it). */
  workflowTaskFailing?: boolean | undefined;
  /** Only the latest run of each workflow id. */
  latestOnly?: boolean | undefined;
  /** Keyset cursor: rows strictly after (startTime, runId) in descending order. */
  after?: { startTime: number; runId: string } | undefined;
}

function runFilterSql(namespace: string, filter: RunFilter): { where: string; params: unknown[] } {
  // `start_time IS NOT NULL` (always true) lets the listing use `runs_by_start`, partial on it (migration 013).
  const where = ['r.namespace = $1', 'r.start_time IS NOT NULL'];
  const params: unknown[] = [namespace];
  const add = (clause: string, value: unknown) => {
    params.push(value);
    where.push(clause.replace('?', `$${params.length}`));
  };
  if (filter.status) add('r.status = ?', filter.status);
  if (filter.workflowType) add('r.workflow_type = ?', filter.workflowType);
  if (filter.workflowId) add('r.workflow_id = ?', filter.workflowId);
  if (filter.workflowTaskFailing) {
    where.push(
      'r.run_id IN (SELECT t.run_id FROM workflow_tasks t WHERE t.namespace = $1 AND t.last_failure IS NOT NULL)',
    );
  }
  if (filter.latestOnly) {
    // `n.workflow_id IS NOT NULL` (always true) lets the look use `runs_by_workflow`, partial on it (migration 013).
    where.push(`NOT EXISTS (SELECT 1 FROM runs n WHERE n.namespace = r.namespace AND n.workflow_id = r.workflow_id
      AND n.workflow_id IS NOT NULL AND (n.start_time, n.run_id) > (r.start_time, r.run_id))`);
  }
  if (filter.after) {
    params.push(filter.after.startTime, filter.after.runId);
    where.push(`(r.start_time, r.run_id) < ($${params.length - 1}, $${params.length})`);
  }
  return { where: where.join(' AND '), params };
}

/** Newest first, keyset-paginated so deep pages cost the same as the first. */
export async function listRuns(q: Queryable, namespace: string, filter: RunFilter, limit: number): Promise<RunRow[]> {
  const { where, params } = runFilterSql(namespace, filter);
  params.push(limit);
  return q.query<RunRow>(
    `SELECT ${COLUMNS} FROM runs r WHERE ${where} ORDER BY r.start_time DESC, r.run_id DESC LIMIT $${params.length}`,
    params,
  );
}

/** How many runs match a filter (for bulk operations' dry runs). */
export async function countRuns(q: Queryable, namespace: string, filter: RunFilter): Promise<number> {
  const { where, params } = runFilterSql(namespace, filter);
  const rows = await q.query<{ n: string | number }>(`SELECT count(*) AS n FROM runs r WHERE ${where}`, params);
  return Number(rows[0]?.n ?? 0);
}

/** Points a closed run at the run that carries on its work (a reset), unless it already names one. */
export async function linkNextRun(q: Queryable, namespace: string, runId: string, nextRunId: string): Promise<void> {
  await q.query(
    `UPDATE runs SET next_run_id = $3 WHERE namespace = $1 AND run_id = $2 AND status <> 'running' AND next_run_id IS NULL`,
    [namespace, runId, nextRunId],
  );
}

/** Hands a running child over to another parent run (a reset parent), keeping its initiating event id. */
export async function reparentChild(
  q: Queryable,
  namespace: string,
  childRunId: string,
  fromParentRunId: string,
  toParentRunId: string,
): Promise<boolean> {
  const rows = await q.query(
    `UPDATE runs SET parent_run_id = $4 WHERE namespace = $1 AND run_id = $2 AND parent_run_id = $3
     AND status = 'running' RETURNING run_id`,
    [namespace, childRunId, fromParentRunId, toParentRunId],
  );
  return rows.length === 1;
}

/** A run by id alone (run ids are unique in a namespace). */
export async function findRunById(q: Queryable, namespace: string, runId: string): Promise<RunRow | undefined> {
  const rows = await q.query<RunRow>(GET_RUN_SQL, [namespace, runId]);
  return rows[0];
}

/** Runs by id (those that exist), in one statement. */
export async function findRunsById(q: Queryable, namespace: string, runIds: readonly string[]): Promise<RunRow[]> {
  if (runIds.length === 1) return q.query<RunRow>(GET_RUN_SQL, [namespace, runIds[0]]);
  return q.query<RunRow>(`SELECT ${COLUMNS} FROM runs WHERE namespace = $1 AND run_id = ANY($2::text[])`, [
    namespace,
    runIds,
  ]);
}
