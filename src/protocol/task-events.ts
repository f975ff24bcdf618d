import { z } from 'zod';

/**
 * Task events: a live side channel of what a run's tasks are doing (started,
 * heartbeats, progress, milestones, output, outcomes). They are numbered per
 * run, kept for a retention period and never read by replay, so they can be
 * dropped or rate-limited without changing what a workflow computes.
 */
export const TASK_EVENT_KINDS = [
  'started',
  'heartbeat',
  'milestone',
  'progress',
  'stdout',
  'stderr',
  'completed',
  'failed',
  'retrying',
  'cancelled',
  'timed-out',
  /** The run closed: the last event of its stream; `data.status` says how. */
  'closed',
] as const;
export const TaskEventKindSchema = z.enum(TASK_EVENT_KINDS);
export type TaskEventKind = z.infer<typeof TaskEventKindSchema>;

/** What produced the event: a workflow task, an activity attempt, or the run itself. */
export const TaskEventSourceSchema = z.enum(['workflow', 'activity', 'run']);
export type TaskEventSource = z.infer<typeof TaskEventSourceSchema>;

export const TaskEventSchema = z
  .object({
    /** 1, 2, 3… per run, in the order the events were recorded. */
    seq: z.number().int().min(1),
    workflowId: z.string(),
    runId: z.string(),
    time: z.number(),
    source: TaskEventSourceSchema,
    kind: TaskEventKindSchema,
    activityId: z.string().optional(),
    activityType: z.string().optional(),
    attempt: z.number().int().optional(),
    /** Output text, a milestone's name, a failure message, or a progress summary. */
    message: z.string().optional(),
    /** Progress numbers, milestone data, heartbeat details, a close status: plain JSON. */
    data: z.unknown().optional(),
  })
  .meta({ id: 'TaskEvent' });
export type TaskEvent = z.infer<typeof TaskEventSchema>;

/** Limits on what one activity attempt may send; defaults of the server, reported in errors. */
export const TASK_EVENT_LIMITS = {
  /** Largest stdout/stderr chunk or milestone message, in bytes. */
  maxMessageBytes: 64 * 1024,
  /** Largest `data` of one event (JSON-encoded), in bytes. */
  maxDataBytes: 64 * 1024,
  /** Events one report may carry. */
  maxEventsPerReport: 500,
} as const;

/** The largest time a JavaScript Date can hold, in ms since the epoch. */
const MAX_TIME_MS = 8_640_000_000_000_000;

const message = z
  .string()
  .refine(
    (s) => Buffer.byteLength(s) <= TASK_EVENT_LIMITS.maxMessageBytes,
    `message must be at most ${TASK_EVENT_LIMITS.maxMessageBytes} bytes; split large output into chunks`,
  );

/** An event an activity (or a workflow task) reports; the server numbers and stamps it. */
export const ReportedTaskEventSchema = z
  .object({
    kind: z.enum(['milestone', 'progress', 'stdout', 'stderr']),
    message: message.optional(),
    data: z.unknown().optional(),
    /**
     * When it happened on the reporter's clock (ms since the epoch); default, and at the latest: when the
     * server receives it.
     */
    time: z.number().int().min(0).max(MAX_TIME_MS).optional(),
  })
  .meta({ id: 'ReportedTaskEvent' });
export type ReportedTaskEvent = z.infer<typeof ReportedTaskEventSchema>;

export const RecordActivityEventsRequestSchema = z
  .object({
    taskToken: z.string().min(1),
    events: z
      .array(ReportedTaskEventSchema)
      .min(1, 'send at least one event')
      .max(TASK_EVENT_LIMITS.maxEventsPerReport, `at most ${TASK_EVENT_LIMITS.maxEventsPerReport} events per report`),
  })
  .meta({ id: 'RecordActivityEventsRequest' });
export type RecordActivityEventsRequest = z.input<typeof RecordActivityEventsRequestSchema>;

export const RecordActivityEventsResponseSchema = z
  .object({
    /** Events stored. */
    accepted: z.number().int(),
    /** Output events dropped because the task went over its output rate; resend nothing. */
    dropped: z.number().int(),
    /** When dropping, how long until the task may send output again. */
    retryAfterMs: z.number().int().optional(),
    /** The workflow asked this activity to stop: same as a heartbeat's answer. */
    cancelRequested: z.boolean(),
  })
  .meta({ id: 'RecordActivityEventsResponse' });
export type RecordActivityEventsResponse = z.infer<typeof RecordActivityEventsResponseSchema>;

export const ListTaskEventsRequestSchema = z
  .object({
    workflowId: z.string().min(1).max(1000),
    /** Default: the latest run of the workflow id. */
    runId: z.string().max(1000).optional(),
    /** Only events with a greater seq (resume from the last one seen). */
    after: z.coerce.number().int().min(0).default(0),
    limit: z.coerce.number().int().min(1).max(1000).default(500),
    /** With no newer event yet, wait up to this long for one (long-poll); 0 returns at once. */
    waitMs: z.coerce.number().int().min(0).max(60_000).default(0),
  })
  .meta({ id: 'ListTaskEventsRequest' });
export type ListTaskEventsRequest = z.input<typeof ListTaskEventsRequestSchema>;

export const TaskEventPageSchema = z
  .object({
    runId: z.string(),
    events: z.array(TaskEventSchema),
    /** True when the run has closed and every event it will ever have was returned. */
    done: z.boolean(),
  })
  .meta({ id: 'TaskEventPage' });
export type TaskEventPage = z.infer<typeof TaskEventPageSchema>;
