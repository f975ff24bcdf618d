import { z } from 'zod';
import { CommandSchema } from './commands.js';
import { type HistoryEvent, HistoryEventSchema } from './events.js';
import { FailureSchema } from './failure.js';
import { PayloadSchema } from './payload.js';
import { ReportedTaskEventSchema, TASK_EVENT_LIMITS } from './task-events.js';

/**
 * The worker plane: long-polls for workflow and activity tasks, and the
 * reports that complete, fail or heartbeat them. Completions may hand the
 * worker its next task directly (eager dispatch), saving a trip through
 * the queue.
 */
const id = (what: string) =>
  z.string().min(1, `${what} must not be empty`).max(1000, `${what} must be at most 1000 characters`);

/** The most tasks one poll may ask for. */
export const MAX_TASKS_PER_POLL = 100;

export const PollRequestSchema = z
  .object({
    taskQueue: id('taskQueue'),
    identity: z.string().max(1000).default('unknown'),
    /** The workflow or activity types this worker can run; it is only handed tasks of these types. */
    types: z.array(z.string().min(1).max(1000)).min(1, 'register at least one type').max(10_000),
    /** How long the server may hold the poll open waiting for a task. */
    waitMs: z.number().int().min(0).max(120_000).default(30_000),
    /**
     * Up to how many tasks one response may carry (the first in `task`, the
     * rest in `moreTasks`); all are leased to this worker. Ask for as many as
     * you have free slots: under load one poll then fetches many tasks.
     */
    maxTasks: z.number().int().min(1, 'maxTasks must be at least 1').max(MAX_TASKS_PER_POLL).default(1),
    /**
     * Workflow polls: up to how many tasks the response may carry when they
     * are the first tasks of workflows started while the poll waits (handed
     * straight from the starts, no claim). Default `maxTasks`. A worker
     * whose idle poll asks for one task (keeping its other slots free for
     * tasks its completions get back) names its free slots here: a burst of
     * starts then reaches it in one response; tasks beyond `maxTasks` run as
     * slots free up.
     */
    maxHandoffs: z.number().int().min(1, 'maxHandoffs must be at least 1').max(MAX_TASKS_PER_POLL).optional(),
  })
  .meta({ id: 'PollRequest' });
export type PollRequest = z.input<typeof PollRequestSchema>;

export const WorkflowTaskSchema = z
  .object({
    taskToken: z.string(),
    workflowId: z.string(),
    runId: z.string(),
    workflowType: z.string(),
    taskQueue: z.string(),
    attempt: z.number().int(),
    /** Workflow time for this task (ms since epoch): what `Date.now()` returns in workflow code. */
    taskTime: z.number(),
    /** Events up to this id were seen by the worker that completed the previous task. */
    previousSeenUpToEventId: z.number().int(),
    /** Events after previousSeenUpToEventId, when they fit; otherwise empty and `eventsComplete` false. */
    events: z.array(HistoryEventSchema),
    eventsComplete: z.boolean(),
    /** The history's last event id when the task was handed out. */
    lastEventId: z.number().int(),
    /**
     * Set for a query task: answer it (respondQueryTask) from the workflow's
     * state after replaying the history; write no commands.
     */
    query: z.object({ queryId: z.string(), queryName: z.string(), args: z.array(PayloadSchema) }).optional(),
    /** Updates to validate and, if accepted, run in this task (in this order). */
    updates: z
      .array(z.object({ updateId: z.string(), updateName: z.string(), args: z.array(PayloadSchema) }))
      .optional(),
  })
  .meta({ id: 'WorkflowTask' });
export type WorkflowTask = Omit<z.infer<typeof WorkflowTaskSchema>, 'events'> & { events: HistoryEvent[] };

export const PollWorkflowTaskResponseSchema = z.object({
  task: WorkflowTaskSchema.nullable(),
  /** Further tasks leased by the same poll, when it asked for `maxTasks` > 1. */
  moreTasks: z.array(WorkflowTaskSchema).optional(),
});
export type PollWorkflowTaskResponse = z.infer<typeof PollWorkflowTaskResponseSchema>;

export const ActivityTaskSchema = z
  .object({
    taskToken: z.string(),
    workflowId: z.string(),
    runId: z.string(),
    workflowType: z.string(),
    activityId: z.string(),
    activityType: z.string(),
    taskQueue: z.string(),
    args: z.array(PayloadSchema),
    attempt: z.number().int(),
    scheduledTime: z.number(),
    startedTime: z.number(),
    heartbeatDetails: PayloadSchema.optional(),
    heartbeatTimeoutMs: z.number().int().optional(),
    startToCloseTimeoutMs: z.number().int().optional(),
    /** When the current attempt must be done by (ms since epoch), if any timeout applies. */
    deadline: z.number().optional(),
  })
  .meta({ id: 'ActivityTask' });
export type ActivityTask = z.infer<typeof ActivityTaskSchema>;

/**
 * Eager dispatch: the worker also runs these activity types on the workflow's task queue and has `max`
 * free slots, so activities the task schedules there may be handed to it in the response (already
 * started) instead of going through the queue.
 */
const EagerActivitiesSchema = z.object({
  max: z.number().int().min(0).max(100),
  types: z.array(z.string().min(1).max(1000)).max(10_000),
});

/**
 * Timers (ids of StartTimer commands in this task) the worker will report
 * itself when they fall due (`fireTimer`), from its own clock: the engine's
 * timer service then fires each only a grace period after it is due, if the
 * worker has not (it died, or lost track). A timer never fires early either way.
 */
const WakesTimersSchema = z.array(z.string().min(1).max(1000)).max(10_000);

/**
 * The worker's clock (ms since epoch) when the task's code started its last timer: the timers the task starts
 * count from here, not from when the completion reached the engine, so time the report spends on its way (a
 * burst queues them, and the other runs of a burst have their code run in between) does not make them late.
 * Taken only within the task's start and the completion's arrival, by the engine's clock; outside, the nearer
 * end counts. Absent: from the completion's arrival.
 */
const DecidedAtSchema = z.number().int().optional();

export const CompleteWorkflowTaskRequestSchema = z
  .object({
    taskToken: z.string().min(1),
    identity: z.string().max(1000).default('unknown'),
    commands: z.array(CommandSchema),
    /** Signals received that no handler has taken yet (names, in arrival order), for describe. */
    bufferedSignals: z.array(z.string().max(1000)).max(10_000).optional(),
    /** Milestones the workflow code emitted in this task (not on replay); they go to the run's task events. */
    taskEvents: z.array(ReportedTaskEventSchema).max(TASK_EVENT_LIMITS.maxEventsPerReport).optional(),
    /** Eager dispatch of the activities this task schedules (see EagerActivitiesSchema). */
    eagerActivities: EagerActivitiesSchema.optional(),
    /** Timers this task starts that the worker will report when due (see WakesTimersSchema). */
    wakesTimers: WakesTimersSchema.optional(),
    /**
     * The worker keeps the run in memory: send back the events this completion appends (`newEvents`),
     * so its copy of the history stays whole and its next activity result can carry the following
     * workflow task's completion (`nextWorkflowTask` of CompleteActivityTaskRequest).
     */
    returnNewEvents: z.boolean().optional(),
    decidedAt: DecidedAtSchema,
  })
  .meta({ id: 'CompleteWorkflowTaskRequest' });
export type CompleteWorkflowTaskRequest = z.input<typeof CompleteWorkflowTaskRequestSchema>;

export const CompleteWorkflowTaskResponseSchema = z
  .object({
    ok: z.literal(true),
    activityTasks: z.array(ActivityTaskSchema).optional(),
    /** With `returnNewEvents`, unless the run closed: the events the completion appended, in order. */
    newEvents: z.array(HistoryEventSchema).optional(),
  })
  .meta({ id: 'CompleteWorkflowTaskResponse' });
export type CompleteWorkflowTaskResponse = Omit<z.infer<typeof CompleteWorkflowTaskResponseSchema>, 'newEvents'> & {
  newEvents?: HistoryEvent[];
};

export const FailWorkflowTaskRequestSchema = z
  .object({
    taskToken: z.string().min(1),
    identity: z.string().max(1000).default('unknown'),
    failure: FailureSchema,
    /** e.g. 'nondeterminism', 'workflow-not-registered', 'determinism-violation'. */
    cause: z.string().max(200),
  })
  .meta({ id: 'FailWorkflowTaskRequest' });
export type FailWorkflowTaskRequest = z.input<typeof FailWorkflowTaskRequestSchema>;

export const PollActivityTaskResponseSchema = z.object({
  task: ActivityTaskSchema.nullable(),
  /** Further tasks leased by the same poll, when it asked for `maxTasks` > 1. */
  moreTasks: z.array(ActivityTaskSchema).optional(),
});
export type PollActivityTaskResponse = z.infer<typeof PollActivityTaskResponseSchema>;

/** A workflow task's completion, worked out ahead with an activity result (see `nextWorkflowTask` below). */
export const NextWorkflowTaskSchema = z
  .object({
    /** The last event of the worker's copy of the history, before this result. */
    afterEventId: z.number().int().min(1),
    /** Workflow time the worker ran the task at (ms since epoch); within a second or so of the server's clock. */
    taskTime: z.number().int().min(0),
    commands: z.array(CommandSchema),
    bufferedSignals: z.array(z.string().max(1000)).max(10_000).optional(),
    taskEvents: z.array(ReportedTaskEventSchema).max(TASK_EVENT_LIMITS.maxEventsPerReport).optional(),
    eagerActivities: EagerActivitiesSchema.optional(),
    wakesTimers: WakesTimersSchema.optional(),
    decidedAt: DecidedAtSchema,
  })
  .meta({ id: 'NextWorkflowTask' });
export type NextWorkflowTask = z.infer<typeof NextWorkflowTaskSchema>;

export const CompleteActivityTaskRequestSchema = z
  .object({
    taskToken: z.string().min(1),
    identity: z.string().max(1000).default('unknown'),
    result: PayloadSchema,
    /**
     * Eager dispatch: this worker runs these workflow types on the activity's task queue and has a free
     * workflow slot, so the workflow task this result creates may be handed to it in the response.
     */
    eagerWorkflowTypes: z.array(z.string().min(1).max(1000)).max(10_000).optional(),
    /**
     * The completion of the workflow task this result creates, worked out ahead by a worker that holds
     * the run in memory: it delivered the result to the workflow at `taskTime` and got these commands.
     * Recorded in the same transaction as the result if the run's history still ends at
     * `afterEventId` and no other workflow task is pending; otherwise ignored (the result is recorded
     * alone, and its workflow task goes through the queue or `eagerWorkflowTypes` as usual).
     */
    nextWorkflowTask: NextWorkflowTaskSchema.optional(),
  })
  .meta({ id: 'CompleteActivityTaskRequest' });
export type CompleteActivityTaskRequest = z.input<typeof CompleteActivityTaskRequestSchema>;

/**
 * Whether a `NextWorkflowTask` was recorded; if so, the events its completion appended (unless the
 * run closed) and the activities handed to the worker (eager dispatch).
 */
export const NextWorkflowTaskOutcomeSchema = z.object({
  applied: z.boolean(),
  newEvents: z.array(HistoryEventSchema).optional(),
  activityTasks: z.array(ActivityTaskSchema).optional(),
});
export type NextWorkflowTaskOutcome = { applied: boolean; newEvents?: HistoryEvent[]; activityTasks?: ActivityTask[] };

export const CompleteActivityTaskResponseSchema = z
  .object({
    ok: z.literal(true),
    workflowTask: WorkflowTaskSchema.optional(),
    nextWorkflowTask: NextWorkflowTaskOutcomeSchema.optional(),
  })
  .meta({ id: 'CompleteActivityTaskResponse' });
export type CompleteActivityTaskResponse = {
  ok: true;
  workflowTask?: WorkflowTask;
  nextWorkflowTask?: NextWorkflowTaskOutcome;
};

export const FailActivityTaskRequestSchema = z
  .object({ taskToken: z.string().min(1), identity: z.string().max(1000).default('unknown'), failure: FailureSchema })
  .meta({ id: 'FailActivityTaskRequest' });
export type FailActivityTaskRequest = z.input<typeof FailActivityTaskRequestSchema>;

export const HeartbeatActivityTaskRequestSchema = z
  .object({ taskToken: z.string().min(1), details: PayloadSchema.optional() })
  .meta({ id: 'HeartbeatActivityTaskRequest' });
export type HeartbeatActivityTaskRequest = z.input<typeof HeartbeatActivityTaskRequestSchema>;

export const HeartbeatActivityTaskResponseSchema = z.object({ cancelRequested: z.boolean() });
export type HeartbeatActivityTaskResponse = z.infer<typeof HeartbeatActivityTaskResponseSchema>;
