import { z } from 'zod';
import { FailureSchema } from './failure.js';
import { PayloadSchema } from './payload.js';
import { RetryPolicySchema } from './retry-policy.js';

/**
 * Commands a worker returns when it completes a workflow task. The engine
 * turns each into history events (ScheduleActivity → ActivityTaskScheduled…).
 */
const ms = z.number().int().min(0);

export const ScheduleActivityCommandSchema = z.object({
  type: z.literal('ScheduleActivity'),
  activityId: z.string().min(1).max(1000),
  activityType: z.string().min(1).max(1000),
  taskQueue: z.string().min(1).max(1000).optional(),
  input: z.array(PayloadSchema),
  scheduleToStartTimeoutMs: ms.optional(),
  startToCloseTimeoutMs: ms.optional(),
  scheduleToCloseTimeoutMs: ms.optional(),
  heartbeatTimeoutMs: ms.optional(),
  retryPolicy: RetryPolicySchema.optional(),
});

export const RequestCancelActivityCommandSchema = z.object({
  type: z.literal('RequestCancelActivity'),
  activityId: z.string().min(1).max(1000),
});

export const StartTimerCommandSchema = z.object({
  type: z.literal('StartTimer'),
  timerId: z.string().min(1).max(1000),
  durationMs: ms,
});

export const CancelTimerCommandSchema = z.object({
  type: z.literal('CancelTimer'),
  timerId: z.string().min(1).max(1000),
});

export const RecordMarkerCommandSchema = z.object({
  type: z.literal('RecordMarker'),
  markerName: z.string().min(1).max(200),
  markerId: z.string().min(1).max(1000),
  value: PayloadSchema.optional(),
});

export const CancelWorkflowCommandSchema = z.object({
  type: z.literal('CancelWorkflow'),
  reason: z.string().max(10_000),
});

export const ContinueAsNewCommandSchema = z.object({
  type: z.literal('ContinueAsNew'),
  /** Default: the same workflow type and task queue. */
  workflowType: z.string().min(1).max(1000).optional(),
  taskQueue: z.string().min(1).max(1000).optional(),
  input: z.array(PayloadSchema),
});

export const ParentClosePolicySchema = z.enum(['terminate', 'request-cancel', 'abandon']);
export type ParentClosePolicy = z.infer<typeof ParentClosePolicySchema>;

export const StartChildWorkflowCommandSchema = z.object({
  type: z.literal('StartChildWorkflow'),
  childId: z.string().min(1).max(1000),
  workflowId: z.string().min(1).max(1000),
  workflowType: z.string().min(1).max(1000),
  taskQueue: z.string().min(1).max(1000).optional(),
  input: z.array(PayloadSchema),
  parentClosePolicy: ParentClosePolicySchema.default('terminate'),
  executionTimeoutMs: ms.optional(),
  runTimeoutMs: ms.optional(),
  retryPolicy: RetryPolicySchema.optional(),
});

export const RequestCancelChildWorkflowCommandSchema = z.object({
  type: z.literal('RequestCancelChildWorkflow'),
  childId: z.string().min(1).max(1000),
  workflowId: z.string().min(1).max(1000),
});

export const AcceptUpdateCommandSchema = z.object({
  type: z.literal('AcceptUpdate'),
  updateId: z.string().min(1).max(1000),
  updateName: z.string().min(1).max(1000),
  input: z.array(PayloadSchema),
});

/** The validator refused the update: nothing is recorded in history; the caller gets the failure. */
export const RejectUpdateCommandSchema = z.object({
  type: z.literal('RejectUpdate'),
  updateId: z.string().min(1).max(1000),
  failure: FailureSchema,
});

export const CompleteUpdateCommandSchema = z.object({
  type: z.literal('CompleteUpdate'),
  updateId: z.string().min(1).max(1000),
  result: PayloadSchema.optional(),
  failure: FailureSchema.optional(),
});

export const CompleteWorkflowCommandSchema = z.object({
  type: z.literal('CompleteWorkflow'),
  result: PayloadSchema,
});

export const FailWorkflowCommandSchema = z.object({
  type: z.literal('FailWorkflow'),
  failure: FailureSchema,
});

export const CommandSchema = z
  .discriminatedUnion('type', [
    ScheduleActivityCommandSchema,
    RequestCancelActivityCommandSchema,
    StartTimerCommandSchema,
    CancelTimerCommandSchema,
    RecordMarkerCommandSchema,
    StartChildWorkflowCommandSchema,
    RequestCancelChildWorkflowCommandSchema,
    AcceptUpdateCommandSchema,
    RejectUpdateCommandSchema,
    CompleteUpdateCommandSchema,
    CompleteWorkflowCommandSchema,
    FailWorkflowCommandSchema,
    CancelWorkflowCommandSchema,
    ContinueAsNewCommandSchema,
  ])
  .meta({ id: 'Command' });

export type Command = z.infer<typeof CommandSchema>;
export type CommandType = Command['type'];
export type CommandOf<K extends CommandType> = Extract<Command, { type: K }>;
