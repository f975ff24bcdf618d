import type { WorkflowTask } from '../protocol/index.js';
import { listRequestedUpdates, type Queryable, readEvents, type WorkflowTaskRow } from '../store/index.js';
import { queueTaskEvent } from './task-events.js';
import { encodeTaskToken } from './task-token.js';

/** A task carries the events since the last completion inline up to this many; beyond, the worker pages. */
const INLINE_EVENTS_LIMIT = 1000;

/**
 * Builds the task a worker gets for a lease just taken (by a poll, or
 * eagerly by a completion): the events it has not seen, and any updates.
 */
export async function startedWorkflowTask(
  tx: Queryable,
  row: Pick<WorkflowTaskRow, 'namespace' | 'runId' | 'workflowId' | 'workflowType' | 'taskQueue' | 'attempt'> & {
    updatesPending: boolean;
    seenUpToEventId: number;
    nextEventId: number;
  },
  leaseId: string,
  now: number,
): Promise<WorkflowTask> {
  const { namespace } = row;
  queueTaskEvent(tx, row, { source: 'workflow', kind: 'started', attempt: row.attempt }, { now });
  const from = row.seenUpToEventId + 1;
  // A claim read the run's next event id in its own snapshot; this read may see events committed
  // since (Postgres read committed). Hand out only what the lease will record as seen.
  const lastEventId = row.nextEventId - 1;
  const events = (await readEvents(tx, namespace, row.runId, from, INLINE_EVENTS_LIMIT + 1)).filter(
    (e) => e.eventId <= lastEventId,
  );
  const eventsComplete = events.length <= INLINE_EVENTS_LIMIT;
  const updates = row.updatesPending ? await listRequestedUpdates(tx, namespace, row.runId) : [];
  return {
    taskToken: encodeTaskToken({ kind: 'workflow', namespace, runId: row.runId, leaseId }),
    workflowId: row.workflowId,
    runId: row.runId,
    workflowType: row.workflowType,
    taskQueue: row.taskQueue,
    attempt: row.attempt,
    taskTime: now,
    previousSeenUpToEventId: row.seenUpToEventId,
    events: eventsComplete ? events : [],
    eventsComplete,
    lastEventId,
    ...(updates.length > 0
      ? { updates: updates.map((u) => ({ updateId: u.updateId, updateName: u.updateName, args: u.args })) }
      : {}),
  };
}
