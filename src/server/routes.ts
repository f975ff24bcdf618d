import { createRoute, z } from '@hono/zod-openapi';
import {
  API_ROUTES,
  CancelWorkflowRequestSchema,
  ClusterInfoSchema,
  CompleteActivityTaskRequestSchema,
  CompleteWorkflowTaskRequestSchema,
  ErrorBodySchema,
  FailActivityTaskRequestSchema,
  FailWorkflowTaskRequestSchema,
  HeartbeatActivityTaskRequestSchema,
  HeartbeatActivityTaskResponseSchema,
  HistoryPageSchema,
  HistoryQuerySchema,
  ListWorkflowsQuerySchema,
  ListWorkflowsResponseSchema,
  OkSchema,
  PollActivityTaskResponseSchema,
  PollRequestSchema,
  PollWorkflowTaskResponseSchema,
  QueryWorkflowRequestSchema,
  QueryWorkflowResponseSchema,
  RespondQueryTaskRequestSchema,
  SignalWithStartRequestSchema,
  SignalWorkflowRequestSchema,
  StartWorkflowRequestSchema,
  StartWorkflowResponseSchema,
  TerminateWorkflowRequestSchema,
  type TidewayApi,
  UpdateOutcomeSchema,
  UpdateWorkflowRequestSchema,
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
    responses: ok(OkSchema, 'Applied'),
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
    responses: ok(OkSchema, 'Recorded'),
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
} satisfies Record<Op, unknown>;
