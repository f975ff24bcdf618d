import type { Command } from 'commander';
import pc from 'picocolors';
import {
  type EventAttributes,
  type EventType,
  type Failure,
  fromPayload,
  type HistoryEvent,
  type HistoryPage,
  JSON_ENCODING,
  type Payload,
} from '../protocol/index.js';
import { addCommonOptions, type CommonOptions, connectClient, print, printJson } from './common.js';
import { formatDuration, formatTable, formatTimestamp, shortFailure } from './format.js';

/** Registers `tideway workflow history <id>`: one line per event of a run. */
export function registerHistoryCommand(workflow: Command): void {
  addCommonOptions(
    workflow
      .command('history')
      .description('print the event history of a workflow run, one line per event')
      .argument('<workflowId>')
      .option('--run-id <runId>', 'a specific run (default: the latest)'),
  ).action(printHistory);
}

async function printHistory(workflowId: string, options: CommonOptions & { runId?: string }): Promise<void> {
  const client = await connectClient(options);
  // Page by page through the API (not the handle) so --json keeps the run id the server answered with.
  const history: HistoryPage = { runId: options.runId ?? '', events: [] };
  let fromEventId: number | undefined = 1;
  while (fromEventId !== undefined) {
    const page: HistoryPage = await client.connection.api.getWorkflowHistory(client.namespace, {
      workflowId,
      ...(history.runId ? { runId: history.runId } : {}),
      fromEventId,
    });
    history.runId = page.runId;
    history.events.push(...page.events);
    fromEventId = page.nextEventId;
  }
  if (options.json) return printJson(history);
  print(pc.dim(`Workflow ${workflowId}, run ${history.runId}: ${history.events.length} events`));
  print(formatHistory(history.events));
}

/** A table of events: id, wall-clock time, time since the run started, type and the attributes that matter. */
export function formatHistory(events: HistoryEvent[]): string {
  const start = events[0]?.timestamp ?? 0;
  const rows = events.map((event) => [
    String(event.eventId),
    formatTimestamp(event.timestamp, true),
    `+${formatDuration(event.timestamp - start)}`,
    event.type,
    describeEvent(event),
  ]);
  return formatTable(['ID', 'TIME', 'ELAPSED', 'TYPE', 'DETAILS'], rows);
}

/** Keyed by event type so that a new event type does not compile until it is described here. */
const EVENT_DETAILS: { [K in EventType]: (attributes: EventAttributes[K]) => string } = {
  WorkflowExecutionStarted: (a) => `type=${a.workflowType} taskQueue=${a.taskQueue} input=${payloads(a.input)}`,
  WorkflowTaskScheduled: (a) => `taskQueue=${a.taskQueue}`,
  WorkflowTaskCompleted: (a) => `attempt=${a.attempt} identity=${a.identity}`,
  WorkflowTaskFailed: (a) => `cause=${a.cause} attempt=${a.attempt} failure=${failure(a.failure)}`,
  ActivityTaskScheduled: (a) => `activity=${a.activityType} id=${a.activityId} input=${payloads(a.input)}`,
  ActivityTaskCompleted: (a) =>
    `scheduledEventId=${a.scheduledEventId} attempt=${a.attempt} result=${payload(a.result)}`,
  ActivityTaskFailed: (a) =>
    `scheduledEventId=${a.scheduledEventId} attempt=${a.attempt} retryState=${a.retryState} failure=${failure(a.failure)}`,
  ActivityTaskTimedOut: (a) => `scheduledEventId=${a.scheduledEventId} attempt=${a.attempt} timeout=${a.timeoutType}`,
  ActivityTaskCancelRequested: (a) => `activityId=${a.activityId}`,
  ActivityTaskCanceled: (a) => `scheduledEventId=${a.scheduledEventId} attempt=${a.attempt}`,
  TimerStarted: (a) => `timer=${a.timerId} duration=${formatDuration(a.durationMs)}`,
  TimerFired: (a) => `timer=${a.timerId} startedEventId=${a.startedEventId}`,
  TimerCanceled: (a) => `timer=${a.timerId}`,
  MarkerRecorded: (a) => `marker=${a.markerName} id=${a.markerId}${a.value ? ` value=${payload(a.value)}` : ''}`,
  WorkflowExecutionSignaled: (a) => `signal=${a.signalName} input=${payloads(a.input)} identity=${a.identity}`,
  WorkflowExecutionCompleted: (a) => `result=${payload(a.result)}`,
  WorkflowExecutionFailed: (a) => `failure=${failure(a.failure)}`,
  StartChildWorkflowExecutionInitiated: (a) =>
    `child=${a.workflowId} type=${a.workflowType} taskQueue=${a.taskQueue} parentClosePolicy=${a.parentClosePolicy}`,
  ChildWorkflowExecutionStarted: (a) => `child=${a.workflowId} runId=${a.runId}`,
  StartChildWorkflowExecutionFailed: (a) => `child=${a.workflowId} cause=${a.cause}`,
  ChildWorkflowExecutionCompleted: (a) => `childId=${a.childId} result=${payload(a.result)}`,
  ChildWorkflowExecutionFailed: (a) => `childId=${a.childId} status=${a.status} failure=${failure(a.failure)}`,
  ChildWorkflowCancelRequested: (a) => `child=${a.workflowId}`,
  WorkflowExecutionUpdateAccepted: (a) => `update=${a.updateName} id=${a.updateId} input=${payloads(a.input)}`,
  WorkflowExecutionUpdateCompleted: (a) =>
    `id=${a.updateId} ${a.failure ? `failure=${failure(a.failure)}` : `result=${a.result ? payload(a.result) : 'null'}`}`,
  WorkflowExecutionCancelRequested: (a) => `reason=${JSON.stringify(a.reason)} identity=${a.identity}`,
  WorkflowExecutionCanceled: (a) => `reason=${JSON.stringify(a.reason)}`,
  WorkflowExecutionTerminated: (a) => `reason=${JSON.stringify(a.reason)} identity=${a.identity}`,
  WorkflowExecutionTimedOut: (a) => `timeout=${a.timeoutType}`,
  WorkflowExecutionContinuedAsNew: (a) => `newRunId=${a.newRunId} type=${a.workflowType} input=${payloads(a.input)}`,
};

function describeEvent(event: HistoryEvent): string {
  const describe = EVENT_DETAILS[event.type] as (attributes: unknown) => string;
  return describe(event.attributes);
}

/** Longest rendering of one value in a history line; the rest is in `--json`. */
const MAX_VALUE_CHARS = 60;

function payload(value: Payload): string {
  const text = value.encoding === JSON_ENCODING ? JSON.stringify(fromPayload(value)) : `<${value.encoding}>`;
  return text.length > MAX_VALUE_CHARS ? `${text.slice(0, MAX_VALUE_CHARS - 3)}...` : text;
}

function payloads(values: Payload[]): string {
  const text = `[${values.map(payload).join(', ')}]`;
  return text.length > MAX_VALUE_CHARS ? `${text.slice(0, MAX_VALUE_CHARS - 4)}...]` : text;
}

function failure(value: Failure): string {
  return JSON.stringify(`${value.type}: ${shortFailure(value)}`);
}
