import { getActivityTask, type Queryable } from '../store/index.js';
import { rescheduleActivityTimer } from './activity-dispatch.js';
import type { EngineContext } from './context.js';
import { notifyKeys } from './notifier.js';
import { decodeTaskToken, type TaskToken } from './task-token.js';

/**
 * Gives back a task that was claimed for a poll whose caller went away
 * before the response reached it (an HTTP worker shutting down). Without
 * this the task would wait for its lease or start-to-close timeout.
 */
export async function releaseTask(ctx: EngineContext, namespace: string, taskToken: string): Promise<void> {
  const raw = JSON.parse(Buffer.from(taskToken, 'base64url').toString('utf8')) as TaskToken;
  const now = ctx.clock.now();
  await ctx.transition(async (tx, notify) => {
    if (raw.kind === 'query') {
      const token = decodeTaskToken(taskToken, 'query', namespace);
      const rows = await tx.query<{ taskQueue: string }>(
        `UPDATE queries SET status = 'pending' WHERE namespace = $1 AND query_id = $2 AND status = 'leased'
         RETURNING task_queue AS "taskQueue"`,
        [namespace, token.queryId],
      );
      if (rows[0]) notify(notifyKeys.workflowQueue(namespace, rows[0].taskQueue));
      return;
    }
    if (raw.kind === 'workflow') {
      const token = decodeTaskToken(taskToken, 'workflow', namespace);
      const rows = await tx.query<{ taskQueue: string }>(
        `UPDATE workflow_tasks SET lease_id = NULL, leased_at = NULL, visible_at = $4
         WHERE namespace = $1 AND run_id = $2 AND lease_id = $3 RETURNING task_queue AS "taskQueue"`,
        [namespace, token.runId, token.leaseId, now],
      );
      if (rows[0]) notify(notifyKeys.workflowQueue(namespace, rows[0].taskQueue));
      return;
    }
    const token = decodeTaskToken(taskToken, 'activity', namespace);
    await releaseActivity(tx, namespace, token, now, notify);
  });
}

async function releaseActivity(
  tx: Queryable,
  namespace: string,
  token: Extract<TaskToken, { kind: 'activity' }>,
  now: number,
  notify: (key: string) => void,
): Promise<void> {
  const released = await tx.query(
    `UPDATE activity_tasks SET lease_id = NULL, started_at = NULL, visible_at = $5
     WHERE namespace = $1 AND run_id = $2 AND scheduled_event_id = $3 AND lease_id = $4 RETURNING run_id`,
    [namespace, token.runId, token.scheduledEventId, token.leaseId, now],
  );
  if (released.length === 0) return;
  const row = await getActivityTask(tx, namespace, token.runId, token.scheduledEventId);
  if (!row) return;
  await rescheduleActivityTimer(tx, row, notify);
  notify(notifyKeys.activityQueue(namespace, row.taskQueue));
}
