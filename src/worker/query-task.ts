import {
  errorToFailure,
  type Failure,
  fromPayloads,
  type HistoryEvent,
  type Payload,
  type TidewayApi,
  toPayload,
  type WorkflowTask,
} from '../protocol/index.js';
import type { WorkflowInstance } from '../workflow/instance.js';

/**
 * Answers a query task: replays the run into `fresh`, a new instance (the
 * cached one must not advance outside a workflow task), lets it process
 * every event, and calls the query handler. Nothing is written to history.
 */
export async function answerQueryTask(
  api: TidewayApi,
  namespace: string,
  task: WorkflowTask,
  query: NonNullable<WorkflowTask['query']>,
  fresh: WorkflowInstance,
  history: () => Promise<HistoryEvent[]>,
): Promise<void> {
  let outcome: { result: Payload } | { failure: Failure };
  try {
    await fresh.consume(await history());
    await fresh.activate(task.taskTime);
    outcome = { result: toPayload(fresh.answerQuery(query.queryName, fromPayloads(query.args))) };
    JSON.stringify(outcome.result);
  } catch (error) {
    outcome = { failure: errorToFailure(error) };
  }
  try {
    await api.respondQueryTask(namespace, { taskToken: task.taskToken, ...outcome });
  } catch {
    // The caller gave up (timed out); nothing else to do.
  }
}

/** A run's history up to the task's last event, page by page. */
export async function fetchTaskHistory(
  api: TidewayApi,
  namespace: string,
  task: WorkflowTask,
): Promise<HistoryEvent[]> {
  const events: HistoryEvent[] = [];
  let fromEventId = 1;
  while (fromEventId <= task.lastEventId) {
    const page = await api.getWorkflowHistory(namespace, {
      workflowId: task.workflowId,
      runId: task.runId,
      fromEventId,
      pageSize: Math.min(1000, task.lastEventId - fromEventId + 1),
    });
    if (page.events.length === 0) break;
    events.push(...page.events);
    fromEventId = page.events[page.events.length - 1]!.eventId + 1;
  }
  return events.filter((e) => e.eventId <= task.lastEventId);
}
