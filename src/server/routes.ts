import { createRoute, z } from '@hono/zod-openapi';
import {
  API_ROUTES,
  BulkOperationRequestSchema,
  BulkOperationResponseSchema,
  CancelWorkflowRequestSchema,
  ClusterInfoSchema,
  CompleteActivityTaskRequestSchema,
  CompleteActivityTaskResponseSchema,
  CompleteWorkflowTaskRequestSchema,
  CompleteWorkflowTaskResponseSchema,
  ErrorBodySchema,
  FailActivityTaskRequestSchema,
  FailWorkflowTaskRequestSchema,
  FireTimerRequestSchema,
  FireTimerResponseSchema,
  HeartbeatActivityTaskRequestSchema,
  HeartbeatActivityTaskResponseSchema,
  HistoryPageSchema,
  HistoryQuerySchema,
  ListTaskEventsRequestSchema,
  ListWorkflowsQuerySchema,
  ListWorkflowsResponseSchema,
  MAX_STARTS_PER_REQUEST,
  NDJSON,
  OkSchema,
  PollActivityTaskResponseSchema,
  PollRequestSchema,
  PollWorkflowTaskResponseSchema,
  QueryWorkflowRequestSchema,
  QueryWorkflowResponseSchema,
  RecordActivityEventsRequestSchema,
  RecordActivityEventsResponseSchema,
  ResetWorkflowRequestSchema,
  ResetWorkflowResponseSchema,
  RespondQueryTaskRequestSchema,
  SignalWithStartRequestSchema,
  SignalWorkflowRequestSchema,
  StartOutcomeSchema,
  StartWorkflowRequestSchema,
  StartWorkflowResponseSchema,
  StartWorkflowsRequestSchema,
  TASK_EVENT_STREAM_PATH,
  TaskEventPageSchema,
  TerminateWorkflowRequestSchema,
  type TidewayApi,
  UpdateOutcomeSchema,
  UpdateWorkflowRequestSchema,
  WorkerReportsRequestSchema,
  WorkerReportsResponseSchema,
  WorkflowDescriptionSchema,
  WorkflowResultSchema,
} from '../protocol/index.js';

/**
 * The HTTP routes as OpenAPI route definitions, built from the protocol's
 * zod schemas: the same schemas validate requests and document the API.
 */
const namespaceParam = z.object({ namespace: z.string().min(1).max(200) });
const workflowParams = namespaceParam.extend({ workflowId: z.string().min(1).max(1000) });
const runIdQuery = z.object({ runId: z.string().max(1000).optional() });

const errors = {
  400: {
    description: 'Invalid request: the message says what to fix',
    content: { 'application/json': { schema: ErrorBodySchema } },
  },
  401: { description: 'Missing or wrong bearer token', content: { 'application/json': { schema: ErrorBodySchema } } },
  404: { description: 'Not found', content: { 'application/json': { schema: ErrorBodySchema } } },
  409: {
    description: 'Conflict (e.g. WorkflowAlreadyStarted)',
    content: { 'application/json': { schema: ErrorBodySchema } },
  },
  413: { description: 'Payload too large', content: { 'application/json': { schema: ErrorBodySchema } } },
};

function ok<S extends z.ZodType>(schema: S, description: string) {
  return { 200: { description, content: { 'application/json': { schema } } }, ...errors };
}
function jsonBody<S extends z.ZodType>(schema: S) {
  return { body: { required: true, content: { 'application/json': { schema } } } };
}

type Op = keyof TidewayApi;
const route = <O extends Op, R extends Omit<Parameters<typeof createRoute>[0], 'method' | 'path'>>(op: O, config: R) =>
  createRoute({ ...config, method: API_ROUTES[op].method, path: API_ROUTES[op].path, operationId: op });

export const routes = {
  clusterInfo: route('clusterInfo', {
    tags: ['cluster'],
    summary: 'Server build and protocol versions',
    responses: ok(ClusterInfoSchema, 'Cluster info'),
  }),
  startWorkflow: route('startWorkflow', {
    tags: ['workflows'],
    summary: 'Start a workflow run',
    request: { params: namespaceParam, ...jsonBody(StartWorkflowRequestSchema) },
    responses: ok(StartWorkflowResponseSchema, 'Started (or the run a retried start with the same requestId created)'),
  }),
  startWorkflows: route('startWorkflows', {
    tags: ['workflows'],
    summary: 'Start several workflow runs in one request',
    description:
      'Each start is what `startWorkflow` takes as its body, and is checked and applied on its own, exactly as if ' +
      "sent alone: one start's error changes nothing for the others. The answer is newline-delimited JSON, one " +
      '`StartOutcome` per start, written as each settles (so in no fixed order; `index` says which start it ' +
      'answers): what `startWorkflow` would have answered, or its error with the status it would have had. A ' +
      "start with `waitForResultMs` answers once its run closes or its wait ends, without waiting for the others'. " +
      `Only an envelope that is not a list of 1 to ${MAX_STARTS_PER_REQUEST} objects fails the whole request, ` +
      'before anything starts. A client that loses the answer midway sends the unanswered starts again with ' +
      'their request ids. Clients send starts made at once this way (control-plane protocol 1.2 and later).',
    request: { params: namespaceParam, ...jsonBody(StartWorkflowsRequestSchema) },
    responses: {
      200: {
        description: "One line per start: the start's outcome, as each settles",
        content: { [NDJSON]: { schema: StartOutcomeSchema } },
      },
      ...errors,
    },
  }),
  listWorkflows: route('listWorkflows', {
    tags: ['workflows'],
    summary: 'List runs, newest first',
    request: { params: namespaceParam, query: ListWorkflowsQuerySchema },
    responses: ok(ListWorkflowsResponseSchema, 'A page of runs'),
  }),
  describeWorkflow: route('describeWorkflow', {
    tags: ['workflows'],
    summary: 'Describe a run (latest unless runId is given)',
    request: { params: workflowParams, query: runIdQuery },
    responses: ok(WorkflowDescriptionSchema, 'The run'),
  }),
  getWorkflowResult: route('getWorkflowResult', {
    tags: ['workflows'],
    summary: 'Get a run’s outcome, waiting up to waitMs for it to close',
    request: {
      params: workflowParams,
      query: runIdQuery.extend({ waitMs: z.coerce.number().int().min(0).max(120_000).optional() }),
    },
    responses: ok(WorkflowResultSchema, 'The outcome (status running if it did not close in time)'),
  }),
  getWorkflowHistory: route('getWorkflowHistory', {
    tags: ['workflows'],
    summary: 'Read a run’s event history, paginated',
    request: { params: workflowParams, query: HistoryQuerySchema },
    responses: ok(HistoryPageSchema, 'A page of events'),
  }),
  signalWorkflow: route('signalWorkflow', {
    tags: ['workflows'],
    summary: 'Send a signal to a running workflow (durable once acknowledged)',
    request: { params: workflowParams, ...jsonBody(SignalWorkflowRequestSchema) },
    responses: ok(OkSchema, 'Recorded in the history'),
  }),
  signalWithStart: route('signalWithStart', {
    tags: ['workflows'],
    summary: 'Signal the running workflow of an id, or start it with the signal',
    request: { params: namespaceParam, ...jsonBody(SignalWithStartRequestSchema) },
    responses: ok(StartWorkflowResponseSchema, 'The run that got the signal; started says whether it is new'),
  }),
  cancelWorkflow: route('cancelWorkflow', {
    tags: ['workflows'],
    summary: 'Ask a running workflow to cancel (its code sees a CancelledFailure and may clean up)',
    request: { params: workflowParams, ...jsonBody(CancelWorkflowRequestSchema) },
    responses: ok(OkSchema, 'Cancellation requested'),
  }),
  terminateWorkflow: route('terminateWorkflow', {
    tags: ['workflows'],
    summary: 'Terminate a running workflow at once, recording a reason',
    request: { params: workflowParams, ...jsonBody(TerminateWorkflowRequestSchema) },
    responses: ok(OkSchema, 'Terminated'),
  }),
  resetWorkflow: route('resetWorkflow', {
    tags: ['workflows'],
    summary: 'Start a new run from a prefix of a run’s history (up to a completed workflow task)',
    description:
      'The workflow task that completed at the reset point runs again with the code deployed now; activities ' +
      'completed before it are not run again. The running run of the id is terminated and linked to the new run; ' +
      'signals received after the reset point are re-applied unless reapplySignals is false.',
    request: { params: workflowParams, ...jsonBody(ResetWorkflowRequestSchema) },
    responses: ok(ResetWorkflowResponseSchema, 'The new run'),
  }),
  bulkWorkflowOperation: route('bulkWorkflowOperation', {
    tags: ['workflows'],
    summary: 'Terminate, cancel or reset every run a list filter matches (dryRun: count and list only)',
    request: { params: namespaceParam, ...jsonBody(BulkOperationRequestSchema) },
    responses: ok(BulkOperationResponseSchema, 'What was (or, in a dry run, would be) affected'),
  }),
  queryWorkflow: route('queryWorkflow', {
    tags: ['workflows'],
    summary: 'Query a workflow’s state through one of its query handlers (no history written)',
    request: { params: workflowParams, ...jsonBody(QueryWorkflowRequestSchema) },
    responses: ok(QueryWorkflowResponseSchema, 'The query handler’s result'),
  }),
  updateWorkflow: route('updateWorkflow', {
    tags: ['workflows'],
    summary: 'Send an update: validated, then handled by the workflow; waits for the requested stage',
    request: { params: workflowParams, ...jsonBody(UpdateWorkflowRequestSchema) },
    responses: ok(UpdateOutcomeSchema, 'The stage the update reached (and its result or failure)'),
  }),
  respondQueryTask: route('respondQueryTask', {
    tags: ['worker'],
    summary: 'Answer a query task',
    request: { params: namespaceParam, ...jsonBody(RespondQueryTaskRequestSchema) },
    responses: ok(OkSchema, 'Delivered to the caller'),
  }),
  pollWorkflowTask: route('pollWorkflowTask', {
    tags: ['worker'],
    summary: 'Long-poll for a workflow task',
    request: { params: namespaceParam, ...jsonBody(PollRequestSchema) },
    responses: ok(PollWorkflowTaskResponseSchema, 'A task, or null when none arrived in time'),
  }),
  completeWorkflowTask: route('completeWorkflowTask', {
    tags: ['worker'],
    summary: 'Complete a workflow task with commands',
    request: { params: namespaceParam, ...jsonBody(CompleteWorkflowTaskRequestSchema) },
    responses: ok(
      CompleteWorkflowTaskResponseSchema,
      'Applied; with eagerActivities, the activities handed to this worker',
    ),
  }),
  failWorkflowTask: route('failWorkflowTask', {
    tags: ['worker'],
    summary: 'Fail a workflow task (it is retried with backoff)',
    request: { params: namespaceParam, ...jsonBody(FailWorkflowTaskRequestSchema) },
    responses: ok(OkSchema, 'Recorded'),
  }),
  pollActivityTask: route('pollActivityTask', {
    tags: ['worker'],
    summary: 'Long-poll for an activity task',
    request: { params: namespaceParam, ...jsonBody(PollRequestSchema) },
    responses: ok(PollActivityTaskResponseSchema, 'A task, or null when none arrived in time'),
  }),
  completeActivityTask: route('completeActivityTask', {
    tags: ['worker'],
    summary: 'Report an activity result',
    request: { params: namespaceParam, ...jsonBody(CompleteActivityTaskRequestSchema) },
    responses: ok(
      CompleteActivityTaskResponseSchema,
      'Recorded; with eagerWorkflowTypes, the workflow task handed to this worker',
    ),
  }),
  failActivityTask: route('failActivityTask', {
    tags: ['worker'],
    summary: 'Report an activity failure (retried per its retry policy)',
    request: { params: namespaceParam, ...jsonBody(FailActivityTaskRequestSchema) },
    responses: ok(OkSchema, 'Recorded'),
  }),
  heartbeatActivityTask: route('heartbeatActivityTask', {
    tags: ['worker'],
    summary: 'Heartbeat a running activity, with progress details',
    request: { params: namespaceParam, ...jsonBody(HeartbeatActivityTaskRequestSchema) },
    responses: ok(HeartbeatActivityTaskResponseSchema, 'Recorded'),
  }),
  recordActivityEvents: route('recordActivityEvents', {
    tags: ['worker'],
    summary: 'Report progress, milestones and stdout/stderr of a running activity',
    description:
      'Events are numbered per run and shown to watchers; they never affect replay. stdout/stderr beyond the ' +
      "activity's output budget are dropped and counted (retryAfterMs says when output is accepted again).",
    request: { params: namespaceParam, ...jsonBody(RecordActivityEventsRequestSchema) },
    responses: ok(RecordActivityEventsResponseSchema, 'Recorded'),
  }),
  fireTimer: route('fireTimer', {
    tags: ['worker'],
    summary: 'Report a timer of a run this worker holds as due, with the workflow task it creates run ahead',
    description:
      'Sent by a worker that promised to (`wakesTimers` of the task that started the timer). The timer fires ' +
      "only if it is due by the server's clock; `next` is recorded with it only if the run's history still " +
      'ends where the worker ran it from.',
    request: { params: namespaceParam, ...jsonBody(FireTimerRequestSchema) },
    responses: ok(FireTimerResponseSchema, 'Whether the timer fired, and whether `next` was recorded'),
  }),
  submitWorkerReports: route('submitWorkerReports', {
    tags: ['worker'],
    summary: 'Send several worker reports (completions, failures, timer reports) in one request',
    description:
      'Each report is what the operation named by `kind` takes as its body, and is checked and applied on its ' +
      "own, exactly as if sent alone: one report's error changes nothing for the others. The answer lists each " +
      "report's outcome in order: the operation's answer, or its error with the status it would have had. Only " +
      'an envelope that is not a list of 1 to 100 reports of known kinds fails the whole request. Workers send ' +
      'reports made at once this way (worker protocol 1.2 and later).',
    request: { params: namespaceParam, ...jsonBody(WorkerReportsRequestSchema) },
    responses: ok(WorkerReportsResponseSchema, "Each report's outcome, in the order sent"),
  }),
  listTaskEvents: route('listTaskEvents', {
    tags: ['workflows'],
    summary: "A page of a run's task events (optionally long-polling for new ones)",
    request: { params: workflowParams, query: ListTaskEventsRequestSchema.omit({ workflowId: true }) },
    responses: ok(TaskEventPageSchema, 'Events after `after`, in seq order'),
  }),
} satisfies Record<Op, unknown>;

/** The SSE stream of a run's task events; not a JSON operation, so it is not part of TidewayApi. */
export const streamTaskEventsRoute = createRoute({
  method: 'get',
  path: TASK_EVENT_STREAM_PATH,
  operationId: 'streamTaskEvents',
  tags: ['workflows'],
  summary: "Stream a run's task events as Server-Sent Events",
  description:
    'Each event is `event: task-event`, `id: <seq>`, `data: <TaskEvent JSON>`. Resume after a disconnect with ' +
    'the `Last-Event-ID` header (or `after`). The stream ends with `event: done` once the run has closed and ' +
    'its last event was sent. Comments (`: ping`) keep idle connections open.',
  request: {
    params: workflowParams,
    query: z.object({
      runId: z.string().max(1000).optional(),
      after: z.coerce.number().int().min(0).optional(),
    }),
    headers: z.object({ 'last-event-id': z.string().regex(/^\d+$/, 'Last-Event-ID must be a seq number').optional() }),
  },
  responses: {
    200: { description: 'An event stream', content: { 'text/event-stream': { schema: z.string() } } },
    ...errors,
  },
});
