import { z } from 'zod';
import { WorkflowStatusSchema } from './api.js';

/**
 * Re-driving runs: reset (a new run of the same workflow id from a prefix
 * of an old run's history) and bulk operations (terminate, cancel or reset
 * every run a list filter matches, with a dry run first).
 */

/** Where a reset cuts the history: every event from this workflow task's completion on is dropped. */
export const RESET_TO = ['last-workflow-task', 'first-workflow-task'] as const;
export type ResetTo = (typeof RESET_TO)[number];

export const ResetWorkflowRequestSchema = z
  .object({
    /** The run to reset; default: the latest run of the workflow id. */
    runId: z.string().max(1000).optional(),
    /**
     * The id of a WorkflowTaskCompleted event: that workflow task runs again
     * with the code deployed now, and everything it and later tasks decided
     * is dropped. Events before it (activity results included) are kept.
     */
    toEventId: z.number().int().min(1).optional(),
    /** Reset to the run's last completed workflow task. */
    toLastWorkflowTask: z.boolean().optional(),
    /** Reset to the run's first completed workflow task: run the workflow from the start, with the same input. */
    toFirstWorkflowTask: z.boolean().optional(),
    reason: z.string().max(10_000).default('reset'),
    /** Signals the run received after the reset point are delivered to the new run too (default true). */
    reapplySignals: z.boolean().default(true),
    /** A retried reset with the same request id returns the run the first one created. */
    requestId: z.string().max(200).optional(),
    identity: z.string().max(1000).default('unknown'),
  })
  .refine(
    (r) =>
      [r.toEventId !== undefined, r.toLastWorkflowTask === true, r.toFirstWorkflowTask === true].filter(Boolean)
        .length === 1,
    { message: 'give exactly one reset point: toEventId, toLastWorkflowTask: true or toFirstWorkflowTask: true' },
  )
  .meta({ id: 'ResetWorkflowRequest' });
export type ResetWorkflowRequest = z.input<typeof ResetWorkflowRequestSchema>;

export const ResetWorkflowResponseSchema = z
  .object({
    workflowId: z.string(),
    /** The new run. */
    runId: z.string(),
    /** The run whose history prefix the new run starts from. */
    baseRunId: z.string(),
    /** The WorkflowTaskCompleted event of the base run that the reset cut at. */
    resetEventId: z.number().int(),
    /** The run that was running and was terminated by the reset, if any. */
    terminatedRunId: z.string().optional(),
    /** Signals received after the reset point that were delivered to the new run. */
    reappliedSignals: z.number().int(),
    /** False when a retried request (same requestId) returned the run an earlier reset created. */
    started: z.boolean(),
  })
  .meta({ id: 'ResetWorkflowResponse' });
export type ResetWorkflowResponse = z.infer<typeof ResetWorkflowResponseSchema>;

export const BULK_OPERATIONS = ['terminate', 'cancel', 'reset'] as const;
export type BulkOperationKind = (typeof BULK_OPERATIONS)[number];

/** Which runs a bulk operation acts on: the filters of listWorkflows. */
export const BulkFilterSchema = z
  .object({
    status: WorkflowStatusSchema.optional(),
    workflowType: z.string().max(1000).optional(),
    workflowId: z.string().max(1000).optional(),
    /** Only runs whose workflow task is failing right now. */
    workflowTaskFailing: z.boolean().optional(),
  })
  .meta({ id: 'BulkFilter' });
export type BulkFilter = z.infer<typeof BulkFilterSchema>;

export const BulkOperationRequestSchema = z
  .object({
    /**
     * terminate / cancel: running runs that match. reset: matching runs that
     * are the latest run of their workflow id, each reset as `resetTo` says.
     */
    operation: z.enum(BULK_OPERATIONS),
    filter: BulkFilterSchema.default({}),
    reason: z.string().max(10_000).optional(),
    resetTo: z.enum(RESET_TO).default('last-workflow-task'),
    reapplySignals: z.boolean().default(true),
    /** Count and list what would be affected; change nothing. */
    dryRun: z.boolean().default(false),
    /** Act on at most this many runs (newest first); run it again for the rest. */
    maxRuns: z.number().int().min(1).max(10_000).default(1000),
    /** How many runs the response lists. */
    listLimit: z.number().int().min(0).max(1000).default(20),
    identity: z.string().max(1000).default('unknown'),
  })
  .meta({ id: 'BulkOperationRequest' });
export type BulkOperationRequest = z.input<typeof BulkOperationRequestSchema>;

export const BulkRunOutcomeSchema = z
  .object({
    workflowId: z.string(),
    runId: z.string(),
    workflowType: z.string(),
    status: WorkflowStatusSchema,
    /** Absent in a dry run. 'skipped': it no longer qualified (e.g. closed meanwhile); 'failed': see error. */
    outcome: z.enum(['terminated', 'cancel-requested', 'reset', 'skipped', 'failed']).optional(),
    /** For a reset: the new run. */
    newRunId: z.string().optional(),
    error: z.string().optional(),
  })
  .meta({ id: 'BulkRunOutcome' });
export type BulkRunOutcome = z.infer<typeof BulkRunOutcomeSchema>;

export const BulkOperationResponseSchema = z
  .object({
    operation: z.enum(BULK_OPERATIONS),
    dryRun: z.boolean(),
    /** Runs the filter matches that the operation applies to. */
    matched: z.number().int(),
    /** Dry run: how many would be acted on (at most maxRuns). Otherwise: how many were. */
    affected: z.number().int(),
    /** Runs that were skipped or failed (not in a dry run). */
    notAffected: z.number().int(),
    /** More runs matched than maxRuns: run the operation again for the rest. */
    truncated: z.boolean(),
    /** Up to listLimit runs: failures first, then the rest in the order they were processed (newest first). */
    runs: z.array(BulkRunOutcomeSchema),
  })
  .meta({ id: 'BulkOperationResponse' });
export type BulkOperationResponse = z.infer<typeof BulkOperationResponseSchema>;
