import { z } from 'zod';
import { type HistoryEvent, HistoryEventSchema } from './events.js';
import { type Failure, FailureSchema } from './failure.js';
import { type Payload, PayloadSchema } from './payload.js';
import type {
  BulkOperationRequest,
  BulkOperationResponse,
  ResetWorkflowRequest,
  ResetWorkflowResponse,
} from './reset.js';
import { RetryPolicySchema } from './retry-policy.js';
import type { StartOutcome, StartWorkflowsRequest } from './start-batches.js';
import type {
  ListTaskEventsRequest,
  RecordActivityEventsRequest,
  RecordActivityEventsResponse,
  TaskEventPage,
} from './task-events.js';
import type { FireTimerRequest, FireTimerResponse } from './timer-wake-api.js';
import type {
  CompleteActivityTaskRequest,
  CompleteActivityTaskResponse,
  CompleteWorkflowTaskRequest,
  CompleteWorkflowTaskResponse,
  FailActivityTaskRequest,
  FailWorkflowTaskRequest,
  HeartbeatActivityTaskRequest,
  HeartbeatActivityTaskResponse,
  PollActivityTaskResponse,
  PollRequest,
  PollWorkflowTaskResponse,
} from './worker-api.js';
import type { WorkerReportsRequest, WorkerReportsResponse } from './worker-reports.js';

/**
 * Request and response shapes of every API operation, shared by the HTTP
 * server (validation + OpenAPI), the HTTP client and the in-process transport.
 */
const id = (what: string) =>
  z.string().min(1, `${what} must not be empty`).max(1000, `${what} must be at most 1000 characters`);
const ms = z.number().int().min(0);

export const WORKFLOW_STATUSES = [
  'running',
  'completed',
  'failed',
  'terminated',
  'cancelled',
  'timed-out',
  'continued-as-new',
] as const;
export const WorkflowStatusSchema = z.enum(WORKFLOW_STATUSES);
export type WorkflowStatus = z.infer<typeof WorkflowStatusSchema>;

export const ID_REUSE_POLICIES = ['allow', 'allow-if-failed', 'reject', 'terminate-if-running'] as const;
export const IdReusePolicySchema = z.enum(ID_REUSE_POLICIES);
export type IdReusePolicy = z.infer<typeof IdReusePolicySchema>;

/** What starts a run: shared by a start and a signal-with-start. */
const WorkflowStartFieldsSchema = z.object({
  workflowId: id('workflowId'),
  workflowType: id('workflowType'),
  taskQueue: id('taskQueue'),
  args: z.array(PayloadSchema).default([]),
  /** A retried start with the same request id returns the run the first one created. */
  requestId: z.string().max(200).optional(),
  idReusePolicy: IdReusePolicySchema.optional(),
  executionTimeoutMs: ms.optional(),
  runTimeoutMs: ms.optional(),
  workflowTaskTimeoutMs: z.number().int().min(100).max(600_000).optional(),
  /** Retries of the whole workflow when a run fails (none by default). */
  retryPolicy: RetryPolicySchema.optional(),
});

export const StartWorkflowRequestSchema = WorkflowStartFieldsSchema.extend({
  /**
   * Start-and-wait: also wait up to this long for the run to close, and
   * answer with its `outcome` (status running if it has not closed by then;
   * ask for the result). A caller that wants the result makes one request,
   * not a start and then a result wait. Absent: answer as soon as the start
   * is durable.
   */
  waitForResultMs: z.number().int().min(0).max(120_000).optional(),
}).meta({ id: 'StartWorkflowRequest' });
export type StartWorkflowRequest = z.input<typeof StartWorkflowRequestSchema>;

export const SignalWorkflowRequestSchema = z
  .object({
    signalName: id('signalName'),
    args: z.array(PayloadSchema).default([]),
    /** A specific run; default: the latest run of the workflow id. */
    runId: z.string().max(1000).optional(),
    identity: z.string().max(1000).default('unknown'),
  })
  .meta({ id: 'SignalWorkflowRequest' });
export type SignalWorkflowRequest = z.input<typeof SignalWorkflowRequestSchema>;

export const CancelWorkflowRequestSchema = z
  .object({
    reason: z.string().max(10_000).default('cancelled'),
    runId: z.string().max(1000).optional(),
    identity: z.string().max(1000).default('unknown'),
  })
  .meta({ id: 'CancelWorkflowRequest' });
export type CancelWorkflowRequest = z.input<typeof CancelWorkflowRequestSchema>;

export const TerminateWorkflowRequestSchema = z
  .object({
    reason: z.string().max(10_000).default('terminated'),
    runId: z.string().max(1000).optional(),
    identity: z.string().max(1000).default('unknown'),
  })
  .meta({ id: 'TerminateWorkflowRequest' });
export type TerminateWorkflowRequest = z.input<typeof TerminateWorkflowRequestSchema>;

export const SignalWithStartRequestSchema = WorkflowStartFieldsSchema.extend({
  signalName: id('signalName'),
  signalArgs: z.array(PayloadSchema).default([]),
  identity: z.string().max(1000).default('unknown'),
}).meta({ id: 'SignalWithStartRequest' });
export type SignalWithStartRequest = z.input<typeof SignalWithStartRequestSchema>;

export const QueryWorkflowRequestSchema = z
  .object({
    queryName: id('queryName'),
    args: z.array(PayloadSchema).default([]),
    runId: z.string().max(1000).optional(),
    /** How long to wait for a worker to answer (default 10 s). */
    timeoutMs: z.number().int().min(1).max(120_000).default(10_000),
  })
  .meta({ id: 'QueryWorkflowRequest' });
export type QueryWorkflowRequest = z.input<typeof QueryWorkflowRequestSchema>;

export const QueryWorkflowResponseSchema = z.object({ result: PayloadSchema }).meta({ id: 'QueryWorkflowResponse' });

export const RespondQueryTaskRequestSchema = z
  .object({
    taskToken: z.string().min(1),
    result: PayloadSchema.optional(),
    failure: FailureSchema.optional(),
  })
  .meta({ id: 'RespondQueryTaskRequest' });
export type RespondQueryTaskRequest = z.input<typeof RespondQueryTaskRequestSchema>;

export const UpdateWorkflowRequestSchema = z
  .object({
    updateName: id('updateName'),
    args: z.array(PayloadSchema).default([]),
    /** Makes a retried update idempotent; generated if omitted. */
    updateId: z.string().min(1).max(1000).optional(),
    runId: z.string().max(1000).optional(),
    /** Return once the update was accepted, or once it completed (default). */
    waitFor: z.enum(['accepted', 'completed']).default('completed'),
    /** How long to wait before answering with the stage reached so far. */
    waitMs: z.number().int().min(0).max(120_000).default(30_000),
  })
  .meta({ id: 'UpdateWorkflowRequest' });
export type UpdateWorkflowRequest = z.input<typeof UpdateWorkflowRequestSchema>;

export const UpdateOutcomeSchema = z
  .object({
    updateId: z.string(),
    runId: z.string(),
    /** requested: not yet validated; rejected: the validator refused it; accepted: running; completed: done. */
    stage: z.enum(['requested', 'accepted', 'rejected', 'completed']),
    result: PayloadSchema.optional(),
    failure: FailureSchema.optional(),
  })
  .meta({ id: 'UpdateOutcome' });
export type UpdateOutcome = z.infer<typeof UpdateOutcomeSchema>;

export const RunRefSchema = z.object({ workflowId: id('workflowId'), runId: id('runId').optional() });
export type RunRef = z.infer<typeof RunRefSchema>;

export const PendingActivitySchema = z.object({
  activityId: z.string(),
  activityType: z.string(),
  scheduledEventId: z.number().int(),
  taskQueue: z.string(),
  state: z.enum(['scheduled', 'started', 'backing-off']),
  attempt: z.number().int(),
  scheduledTime: z.number(),
  lastStartedTime: z.number().optional(),
  lastHeartbeatTime: z.number().optional(),
  heartbeatDetails: PayloadSchema.optional(),
  nextAttemptTime: z.number().optional(),
  lastFailure: FailureSchema.optional(),
});
export type PendingActivity = z.infer<typeof PendingActivitySchema>;

export const WorkflowSummarySchema = z
  .object({
    workflowId: z.string(),
    runId: z.string(),
    workflowType: z.string(),
    taskQueue: z.string(),
    status: WorkflowStatusSchema,
    startTime: z.number(),
    closeTime: z.number().optional(),
    historyLength: z.number().int(),
    nextRunId: z.string().optional(),
    /** Set while the run's workflow task keeps failing (a poison workflow): what failed, how often, when next. */
    workflowTaskFailure: z
      .object({
        /** Failed attempts in the current streak (a completed task ends the streak). */
        failures: z.number().int(),
        /** e.g. 'nondeterminism', 'determinism-violation', 'workflow-task-error'. */
        cause: z.string().optional(),
        lastFailure: FailureSchema,
        /** When the next attempt may start (ms since epoch); absent while a worker holds the task. */
        nextAttemptTime: z.number().optional(),
      })
      .optional(),
  })
  .meta({ id: 'WorkflowSummary' });
export type WorkflowSummary = z.infer<typeof WorkflowSummarySchema>;

export const WorkflowDescriptionSchema = WorkflowSummarySchema.extend({
  pendingActivities: z.array(PendingActivitySchema),
  pendingWorkflowTask: z
    .object({
      state: z.enum(['scheduled', 'started', 'backing-off']),
      attempt: z.number().int(),
      lastFailure: FailureSchema.optional(),
    })
    .optional(),
  result: PayloadSchema.optional(),
  failure: FailureSchema.optional(),
  /** Signals the workflow received but has no handler for (yet), as of its last workflow task. */
  bufferedSignals: z.array(z.string()),
}).meta({ id: 'WorkflowDescription' });
export type WorkflowDescription = z.infer<typeof WorkflowDescriptionSchema>;

export const WorkflowResultSchema = z
  .object({
    runId: z.string(),
    status: WorkflowStatusSchema,
    /** For status continued-as-new: the run that carries on. */
    nextRunId: z.string().optional(),
    result: PayloadSchema.optional(),
    failure: FailureSchema.optional(),
  })
  .meta({ id: 'WorkflowResult' });
export type WorkflowResult = z.infer<typeof WorkflowResultSchema> & { failure?: Failure };

export const StartWorkflowResponseSchema = z
  .object({
    workflowId: z.string(),
    runId: z.string(),
    started: z.boolean(),
    /** With `waitForResultMs`: the run's outcome as a result wait would give it. */
    outcome: WorkflowResultSchema.optional(),
  })
  .meta({ id: 'StartWorkflowResponse' });
export type StartWorkflowResponse = z.infer<typeof StartWorkflowResponseSchema>;

export const ListWorkflowsQuerySchema = z.object({
  status: WorkflowStatusSchema.optional(),
  workflowType: z.string().max(1000).optional(),
  workflowId: z.string().max(1000).optional(),
  /** Only runs whose workflow task is failing right now (poison workflows, retried with backoff). */
  workflowTaskFailing: z
    .union([z.boolean(), z.enum(['true', 'false']).transform((value) => value === 'true')])
    .optional(),
  pageSize: z.coerce.number().int().min(1).max(1000).default(100),
  nextPageToken: z.string().max(2000).optional(),
});
export type ListWorkflowsQuery = z.input<typeof ListWorkflowsQuerySchema>;

export const ListWorkflowsResponseSchema = z
  .object({ executions: z.array(WorkflowSummarySchema), nextPageToken: z.string().optional() })
  .meta({ id: 'ListWorkflowsResponse' });
export type ListWorkflowsResponse = z.infer<typeof ListWorkflowsResponseSchema>;

export const HistoryQuerySchema = z.object({
  runId: z.string().max(1000).optional(),
  fromEventId: z.coerce.number().int().min(1).default(1),
  pageSize: z.coerce.number().int().min(1).max(10_000).default(1000),
});
export type HistoryQuery = z.input<typeof HistoryQuerySchema>;

export const HistoryPageSchema = z
  .object({ runId: z.string(), events: z.array(HistoryEventSchema), nextEventId: z.number().int().optional() })
  .meta({ id: 'HistoryPage' });
export type HistoryPage = { runId: string; events: HistoryEvent[]; nextEventId?: number | undefined };

export const OkSchema = z.object({ ok: z.literal(true) });

export const ClusterInfoSchema = z
  .object({
    serverVersion: z.string(),
    controlPlaneVersion: z.string(),
    workerProtocolVersion: z.string(),
    store: z.enum(['postgres', 'pglite']),
    maxPayloadBytes: z.number().int(),
  })
  .meta({ id: 'ClusterInfo' });
export type ClusterInfo = z.infer<typeof ClusterInfoSchema>;

/**
 * Everything a client or worker can ask of Tideway. The engine implements it
 * in process; the HTTP client implements it over the wire. Both throw
 * `TidewayApiError` with the same codes.
 */
export interface TidewayApi {
  clusterInfo(): Promise<ClusterInfo>;
  /**
   * Starts a run; with `waitForResultMs`, then waits for it to close. `signal` (the caller is gone) ends that
   * wait early, as if its time ran out; the start itself is never undone. The engine honours the signals of
   * these waits (the server gives it each request's, aborted when the client disconnects); the HTTP client
   * does not take one: a client that stops waiting closes its connection.
   */
  startWorkflow(namespace: string, request: StartWorkflowRequest, signal?: AbortSignal): Promise<StartWorkflowResponse>;
  /**
   * Several starts in one request, each applied exactly as `startWorkflow` applies it alone. `onOutcome` gets
   * each one's outcome as it settles (a start-and-wait's once its run closes or its wait ends); resolves once
   * every start has had its outcome. Only a malformed envelope fails the whole request, before anything starts.
   */
  startWorkflows(
    namespace: string,
    request: StartWorkflowsRequest,
    onOutcome: (outcome: StartOutcome) => void,
    signal?: AbortSignal,
  ): Promise<void>;
  describeWorkflow(namespace: string, ref: RunRef): Promise<WorkflowDescription>;
  /**
   * Waits up to `waitMs` for the run to close; returns status 'running' if it has not. `signal` (the caller is
   * gone) ends the wait early.
   */
  getWorkflowResult(
    namespace: string,
    ref: RunRef & { waitMs?: number },
    signal?: AbortSignal,
  ): Promise<WorkflowResult>;
  listWorkflows(namespace: string, query: ListWorkflowsQuery): Promise<ListWorkflowsResponse>;
  /** Delivers a signal to a running workflow; durable once this resolves. Fails if the run is closed. */
  signalWorkflow(namespace: string, request: { workflowId: string } & SignalWorkflowRequest): Promise<void>;
  /** Signals the running workflow of an id, or starts it and signals the new run, atomically. */
  signalWithStart(namespace: string, request: SignalWithStartRequest): Promise<StartWorkflowResponse>;
  /**
   * Asks a worker for the workflow's state through one of its query handlers;
   * writes no history. Works on closed runs too (by replay).
   */
  queryWorkflow(
    namespace: string,
    request: { workflowId: string } & QueryWorkflowRequest,
  ): Promise<{ result: Payload }>;
  respondQueryTask(namespace: string, request: RespondQueryTaskRequest): Promise<void>;
  /**
   * Sends an update: validated by the workflow's validator (a rejection
   * leaves no trace in history), then run by its handler. Waits for the
   * requested stage, up to waitMs; calling again with the same updateId
   * returns the same update.
   */
  updateWorkflow(namespace: string, request: { workflowId: string } & UpdateWorkflowRequest): Promise<UpdateOutcome>;
  /**
   * Asks a running workflow to cancel: its code sees a CancelledFailure at
   * its next await and may clean up; it is not stopped by force.
   */
  cancelWorkflow(namespace: string, request: { workflowId: string } & CancelWorkflowRequest): Promise<void>;
  /** Stops a running workflow at once, recording the reason. */
  terminateWorkflow(namespace: string, request: { workflowId: string } & TerminateWorkflowRequest): Promise<void>;
  /**
   * Starts a new run of the workflow id from a prefix of a run's history (up
   * to a completed workflow task), terminating the run that is running; the
   * task at the reset point runs again with the code deployed now.
   */
  resetWorkflow(
    namespace: string,
    request: { workflowId: string } & ResetWorkflowRequest,
  ): Promise<ResetWorkflowResponse>;
  /** Terminates, cancels or resets every run a list filter matches; `dryRun` only counts and lists them. */
  bulkWorkflowOperation(namespace: string, request: BulkOperationRequest): Promise<BulkOperationResponse>;
  getWorkflowHistory(namespace: string, ref: { workflowId: string } & HistoryQuery): Promise<HistoryPage>;
  /** Leases the next workflow task(s) of a queue (up to `maxTasks`), waiting up to `waitMs`; `task` is null if none came. */
  pollWorkflowTask(namespace: string, request: PollRequest, signal?: AbortSignal): Promise<PollWorkflowTaskResponse>;
  completeWorkflowTask(namespace: string, request: CompleteWorkflowTaskRequest): Promise<CompleteWorkflowTaskResponse>;
  failWorkflowTask(namespace: string, request: FailWorkflowTaskRequest): Promise<void>;
  /** Leases the next activity task(s) of a queue (up to `maxTasks`), waiting up to `waitMs`; `task` is null if none came. */
  pollActivityTask(namespace: string, request: PollRequest, signal?: AbortSignal): Promise<PollActivityTaskResponse>;
  completeActivityTask(namespace: string, request: CompleteActivityTaskRequest): Promise<CompleteActivityTaskResponse>;
  failActivityTask(namespace: string, request: FailActivityTaskRequest): Promise<void>;
  heartbeatActivityTask(
    namespace: string,
    request: HeartbeatActivityTaskRequest,
  ): Promise<HeartbeatActivityTaskResponse>;
  /** A timer of a run the worker holds fell due by its clock: fires it, with the workflow task run ahead if given. */
  fireTimer(namespace: string, request: FireTimerRequest): Promise<FireTimerResponse>;
  /**
   * Several of the reports above (completions, failures, timer reports) in one request, each applied on
   * its own as if sent alone; the answer has each one's outcome in order.
   */
  submitWorkerReports(namespace: string, request: WorkerReportsRequest): Promise<WorkerReportsResponse>;
  /** Progress, milestones and output of a running activity attempt, for watchers; rate-limited per activity. */
  recordActivityEvents(namespace: string, request: RecordActivityEventsRequest): Promise<RecordActivityEventsResponse>;
  /** A page of a run's task events after a seq, optionally waiting for new ones (see also the SSE stream). */
  listTaskEvents(namespace: string, request: ListTaskEventsRequest, signal?: AbortSignal): Promise<TaskEventPage>;
}
