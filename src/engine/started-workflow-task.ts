import type { HistoryEvent, WorkflowTask } from '../protocol/index.js';
import {
  listRequestedUpdates,
  type Queryable,
  readEventsStatement,
  readLater,
  type UpdateRow,
  type WorkflowTaskRow,
} from '../store/index.js';
import { queueTaskEvent } from './task-events.js';
import { encodeTaskToken } from './task-token.js';

/** A task carries the events since the last completion inline up to this many; beyond, the worker pages. */
const INLINE_EVENTS_LIMIT = 1000;

type StartingTask = Pick<
  WorkflowTaskRow,
  'namespace' | 'runId' | 'workflowId' | 'workflowType' | 'taskQueue' | 'attempt'
> & {
  updatesPending: boolean;
  seenUpToEventId: number;
  nextEventId: number;
};

/**
 * Starts the tasks a worker gets for leases just taken (by a poll, or
 * eagerly by a completion): the events each has not seen, and any updates.
 * The events are read with the transaction's COMMIT (see `readLater`), so
 * the returned function builds the tasks once the transaction has ended.
 */
export async function startWorkflowTasks(
  tx: Queryable,
  rows: readonly StartingTask[],
  leaseId: string,
  now: number,
): Promise<() => Promise<WorkflowTask[]>> {
  const parts: { row: StartingTask; history: () => Promise<HistoryEvent[]>; updates: UpdateRow[] }[] = [];
  for (const row of rows) {
    queueTaskEvent(tx, row, { source: 'workflow', kind: 'started', attempt: row.attempt }, { now });
    const history = await readLater<HistoryEvent>(
      tx,
      readEventsStatement(row.namespace, row.runId, row.seenUpToEventId + 1, INLINE_EVENTS_LIMIT + 1),
    );
    const updates = row.updatesPending ? await listRequestedUpdates(tx, row.namespace, row.runId) : [];
    parts.push({ row, history, updates });
  }
  return async () => {
    const tasks: WorkflowTask[] = [];
    for (const { row, history, updates } of parts) {
      // A claim read the run's next event id in its own snapshot; this read may see events committed
      // since (Postgres read committed). Hand out only what the lease will record as seen.
      const lastEventId = row.nextEventId - 1;
      const events = (await history()).filter((e) => e.eventId <= lastEventId);
      const eventsComplete = events.length <= INLINE_EVENTS_LIMIT;
      tasks.push({
        taskToken: encodeTaskToken({ kind: 'workflow', namespace: row.namespace, runId: row.runId, leaseId }),
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
      });
    }
    return tasks;
  };
}
