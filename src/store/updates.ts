import type { Failure, Payload } from '../protocol/index.js';
import type { Queryable } from './db.js';

export type UpdateStatus = 'requested' | 'accepted' | 'rejected' | 'completed';

/** An update sent to a run, from request to outcome. */
export interface UpdateRow {
  namespace: string;
  runId: string;
  updateId: string;
  workflowId: string;
  updateName: string;
  args: Payload[];
  status: UpdateStatus;
  result: Payload | null;
  failure: Failure | null;
  createdAt: number;
}

const COLUMNS = `namespace, run_id AS "runId", update_id AS "updateId", workflow_id AS "workflowId",
  update_name AS "updateName", args, status, result, failure, created_at AS "createdAt"`;

export async function insertUpdate(q: Queryable, row: Omit<UpdateRow, 'status' | 'result' | 'failure'>): Promise<void> {
  await q.query(
    `INSERT INTO updates (namespace, run_id, update_id, workflow_id, update_name, args, created_at)
     VALUES ($1, $2, $3, $4, $5, $6::jsonb, $7)`,
    [row.namespace, row.runId, row.updateId, row.workflowId, row.updateName, JSON.stringify(row.args), row.createdAt],
  );
}

export async function getUpdate(
  q: Queryable,
  namespace: string,
  runId: string,
  updateId: string,
): Promise<UpdateRow | undefined> {
  const rows = await q.query<UpdateRow>(
    `SELECT ${COLUMNS} FROM updates WHERE namespace = $1 AND run_id = $2 AND update_id = $3`,
    [namespace, runId, updateId],
  );
  return rows[0];
}

/** Updates waiting for a worker to validate them, oldest first. */
export async function listRequestedUpdates(q: Queryable, namespace: string, runId: string): Promise<UpdateRow[]> {
  return q.query<UpdateRow>(
    `SELECT ${COLUMNS} FROM updates WHERE namespace = $1 AND run_id = $2 AND status = 'requested'
     ORDER BY created_at, update_id`,
    [namespace, runId],
  );
}

export async function setUpdateOutcome(
  q: Queryable,
  args: {
    namespace: string;
    runId: string;
    updateId: string;
    status: UpdateStatus;
    result?: Payload | undefined;
    failure?: Failure | undefined;
  },
): Promise<void> {
  await q.query(
    `UPDATE updates SET status = $4, result = COALESCE($5::jsonb, result), failure = COALESCE($6::jsonb, failure)
     WHERE namespace = $1 AND run_id = $2 AND update_id = $3`,
    [
      args.namespace,
      args.runId,
      args.updateId,
      args.status,
      args.result === undefined ? null : JSON.stringify(args.result),
      args.failure === undefined ? null : JSON.stringify(args.failure),
    ],
  );
}

/** A run closed: updates still waiting can never be answered. */
export async function failOpenUpdates(
  q: Queryable,
  namespace: string,
  runId: string,
  failure: Failure,
): Promise<string[]> {
  const rows = await q.query<{ updateId: string }>(
    `UPDATE updates SET status = 'completed', failure = $3::jsonb
     WHERE namespace = $1 AND run_id = $2 AND status IN ('requested', 'accepted') RETURNING update_id AS "updateId"`,
    [namespace, runId, JSON.stringify(failure)],
  );
  return rows.map((r) => r.updateId);
}
