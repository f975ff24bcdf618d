import type { Failure, Payload } from '../protocol/index.js';
import type { Queryable } from './db.js';

/** A query waiting for (or holding) a worker's answer. */
export interface QueryRow {
  namespace: string;
  queryId: string;
  runId: string;
  workflowId: string;
  workflowType: string;
  taskQueue: string;
  queryName: string;
  args: Payload[];
  status: 'pending' | 'leased' | 'answered';
  createdAt: number;
  result: Payload | null;
  failure: Failure | null;
}

const COLUMNS = `namespace, query_id AS "queryId", run_id AS "runId", workflow_id AS "workflowId",
  workflow_type AS "workflowType", task_queue AS "taskQueue", query_name AS "queryName", args, status,
  created_at AS "createdAt", result, failure`;

export async function insertQuery(q: Queryable, row: Omit<QueryRow, 'status' | 'result' | 'failure'>): Promise<void> {
  await q.query(
    `INSERT INTO queries (namespace, query_id, run_id, workflow_id, workflow_type, task_queue, query_name, args, created_at)
     VALUES ($1, $2, $3, $4, $5, $6, $7, $8::jsonb, $9)`,
    [
      row.namespace,
      row.queryId,
      row.runId,
      row.workflowId,
      row.workflowType,
      row.taskQueue,
      row.queryName,
      JSON.stringify(row.args),
      row.createdAt,
    ],
  );
}

/** Claims the oldest pending query of a queue for a workflow type the poller can run. */
export async function claimQuery(
  q: Queryable,
  args: { namespace: string; taskQueue: string; types: readonly string[] },
): Promise<QueryRow | undefined> {
  const rows = await q.query<QueryRow>(
    `UPDATE queries SET status = 'leased' WHERE (namespace, query_id) = (
       SELECT namespace, query_id FROM queries
       WHERE namespace = $1 AND task_queue = $2 AND status = 'pending' AND workflow_type = ANY($3::text[])
       ORDER BY created_at LIMIT 1 FOR UPDATE SKIP LOCKED
     ) RETURNING ${COLUMNS}`,
    [args.namespace, args.taskQueue, args.types],
  );
  return rows[0];
}

export async function getQuery(q: Queryable, namespace: string, queryId: string): Promise<QueryRow | undefined> {
  const rows = await q.query<QueryRow>(`SELECT ${COLUMNS} FROM queries WHERE namespace = $1 AND query_id = $2`, [
    namespace,
    queryId,
  ]);
  return rows[0];
}

/** Stores a worker's answer; false when nobody waits for it any more. */
export async function answerQuery(
  q: Queryable,
  args: { namespace: string; queryId: string; result?: Payload | undefined; failure?: Failure | undefined },
): Promise<boolean> {
  const rows = await q.query(
    `UPDATE queries SET status = 'answered', result = $3::jsonb, failure = $4::jsonb
     WHERE namespace = $1 AND query_id = $2 AND status = 'leased' RETURNING query_id`,
    [
      args.namespace,
      args.queryId,
      args.result === undefined ? null : JSON.stringify(args.result),
      args.failure === undefined ? null : JSON.stringify(args.failure),
    ],
  );
  return rows.length === 1;
}

export async function deleteQuery(q: Queryable, namespace: string, queryId: string): Promise<void> {
  await q.query('DELETE FROM queries WHERE namespace = $1 AND query_id = $2', [namespace, queryId]);
}
