import { z } from 'zod';
import { FailureSchema } from './failure.js';
import { PayloadSchema } from './payload.js';
import { RetryPolicySchema } from './retry-policy.js';

/**
 * History events. A run's history is an append-only list of these, numbered
 * from 1. Each kind's attributes are a schema here; `EventAttributes` maps a
 * kind to its attributes so handlers can be exhaustive by kind.
 */
const ms = z.number().int().min(0);

export const eventAttributeSchemas = {
  WorkflowExecutionStarted: z.object({
    workflowType: z.string(),
    taskQueue: z.string(),
    input: z.array(PayloadSchema),
    requestId: z.string().optional(),
    executionTimeoutMs: ms.optional(),
    runTimeoutMs: ms.optional(),
    workflowTaskTimeoutMs: ms,
    /** Retries of the workflow when a run fails, and which attempt this run is (1 = first). */
    retryPolicy: RetryPolicySchema.optional(),
    attempt: z.number().int().min(1).optional(),
    /**
     * The run this history began in, before any reset: it seeds the
     * workflow's Math.random(), so a reset run replays the copied events
     * with the numbers they were decided with. Absent: this run's own id.
     */
    originalExecutionRunId: z.string().optional(),
  }),
  WorkflowTaskScheduled: z.object({ taskQueue: z.string() }),
  WorkflowTaskCompleted: z.object({
    /** The last history event the worker had seen when it produced this task's commands. */
    seenUpToEventId: z.number().int().min(0),
    /** Workflow time during this task: what `Date.now()` returned in workflow code. */
    taskTime: z.number(),
    identity: z.string(),
    attempt: z.number().int().min(1),
  }),
  WorkflowTaskFailed: z.object({
    failure: FailureSchema,
    cause: z.string(),
    attempt: z.number().int().min(1),
    identity: z.string(),
  }),
  ActivityTaskScheduled: z.object({
    activityId: z.string(),
    activityType: z.string(),
    taskQueue: z.string(),
    input: z.array(PayloadSchema),
    scheduleToStartTimeoutMs: ms.optional(),
    startToCloseTimeoutMs: ms.optional(),
    scheduleToCloseTimeoutMs: ms.optional(),
    heartbeatTimeoutMs: ms.optional(),
    retryPolicy: RetryPolicySchema,
  }),
  ActivityTaskCompleted: z.object({
    scheduledEventId: z.number().int(),
    result: PayloadSchema,
    attempt: z.number().int(),
    identity: z.string(),
  }),
  ActivityTaskFailed: z.object({
    scheduledEventId: z.number().int(),
    failure: FailureSchema,
    attempt: z.number().int(),
    identity: z.string(),
    /** Why retries stopped: non-retryable error, attempts exhausted, or schedule-to-close deadline. */
    retryState: z.string(),
  }),
  ActivityTaskTimedOut: z.object({
    scheduledEventId: z.number().int(),
    failure: FailureSchema,
    attempt: z.number().int(),
    timeoutType: z.enum(['scheduleToStart', 'startToClose', 'scheduleToClose', 'heartbeat']),
  }),
  ActivityTaskCancelRequested: z.object({ activityId: z.string() }),
  ActivityTaskCanceled: z.object({
    scheduledEventId: z.number().int(),
    attempt: z.number().int(),
    identity: z.string(),
    failure: FailureSchema.optional(),
  }),
  TimerStarted: z.object({ timerId: z.string(), durationMs: ms, fireAt: z.number() }),
  TimerFired: z.object({ timerId: z.string(), startedEventId: z.number().int() }),
  TimerCanceled: z.object({ timerId: z.string() }),
  StartChildWorkflowExecutionInitiated: z.object({
    childId: z.string(),
    workflowId: z.string(),
    workflowType: z.string(),
    taskQueue: z.string(),
    input: z.array(PayloadSchema),
    parentClosePolicy: z.enum(['terminate', 'request-cancel', 'abandon']),
  }),
  ChildWorkflowExecutionStarted: z.object({ childId: z.string(), workflowId: z.string(), runId: z.string() }),
  StartChildWorkflowExecutionFailed: z.object({ childId: z.string(), workflowId: z.string(), cause: z.string() }),
  ChildWorkflowExecutionCompleted: z.object({ childId: z.string(), runId: z.string(), result: PayloadSchema }),
  ChildWorkflowExecutionFailed: z.object({
    childId: z.string(),
    runId: z.string(),
    status: z.string(),
    failure: FailureSchema,
  }),
  ChildWorkflowCancelRequested: z.object({ childId: z.string(), workflowId: z.string() }),
  WorkflowExecutionUpdateAccepted: z.object({
    updateId: z.string(),
    updateName: z.string(),
    input: z.array(PayloadSchema),
  }),
  WorkflowExecutionUpdateCompleted: z.object({
    updateId: z.string(),
    result: PayloadSchema.optional(),
    failure: FailureSchema.optional(),
  }),
  WorkflowExecutionCancelRequested: z.object({ reason: z.string(), identity: z.string() }),
  WorkflowExecutionSignaled: z.object({
    signalName: z.string(),
    input: z.array(PayloadSchema),
    identity: z.string(),
  }),
  MarkerRecorded: z.object({
    /** 'side-effect' or 'patch'. */
    markerName: z.string(),
    markerId: z.string(),
    value: PayloadSchema.optional(),
  }),
  WorkflowExecutionCompleted: z.object({ result: PayloadSchema }),
  WorkflowExecutionFailed: z.object({ failure: FailureSchema }),
  WorkflowExecutionCanceled: z.object({ reason: z.string() }),
  WorkflowExecutionTerminated: z.object({ reason: z.string(), identity: z.string() }),
  WorkflowExecutionTimedOut: z.object({ timeoutType: z.enum(['execution', 'run']) }),
  WorkflowExecutionContinuedAsNew: z.object({
    newRunId: z.string(),
    workflowType: z.string(),
    taskQueue: z.string(),
    input: z.array(PayloadSchema),
  }),
} as const;

export type EventType = keyof typeof eventAttributeSchemas;
export type EventAttributes = { [K in EventType]: z.infer<(typeof eventAttributeSchemas)[K]> };
export const EVENT_TYPES = Object.keys(eventAttributeSchemas) as EventType[];

export type HistoryEvent = {
  [K in EventType]: { eventId: number; type: K; timestamp: number; attributes: EventAttributes[K] };
}[EventType];

export type HistoryEventOf<K extends EventType> = Extract<HistoryEvent, { type: K }>;

/** A new event before the store numbers it. */
export type NewEvent = { [K in EventType]: { type: K; attributes: EventAttributes[K] } }[EventType];

export const HistoryEventSchema = z
  .object({
    eventId: z.number().int().min(1),
    type: z.enum(EVENT_TYPES as [EventType, ...EventType[]]),
    timestamp: z.number().describe('milliseconds since the epoch'),
    attributes: z.record(z.string(), z.unknown()),
  })
  .meta({ id: 'HistoryEvent' }) as unknown as z.ZodType<HistoryEvent>;

export const CLOSE_EVENT_TYPES: ReadonlySet<EventType> = new Set([
  'WorkflowExecutionCompleted',
  'WorkflowExecutionFailed',
  'WorkflowExecutionCanceled',
  'WorkflowExecutionTerminated',
  'WorkflowExecutionTimedOut',
  'WorkflowExecutionContinuedAsNew',
]);
