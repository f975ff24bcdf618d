import {
  type HistoryPage,
  type HistoryQuery,
  HistoryQuerySchema,
  type ListWorkflowsQuery,
  ListWorkflowsQuerySchema,
  type ListWorkflowsResponse,
  type PendingActivity,
  type RunRef,
  TidewayApiError,
  type WorkflowDescription,
  type WorkflowResult,
  type WorkflowSummary,
} from '../protocol/index.js';
import {
  findRun,
  getWorkflowTask,
  listFailingWorkflowTasks,
  listRunActivityTasks,
  listRuns,
  type RunRow,
  readEvents,
  type WorkflowTaskRow,
} from '../store/index.js';
import { checkNamespace, type EngineContext } from './context.js';
import { linkedSignal } from './linked-signal.js';
import { notifyKeys, type Subscription } from './notifier.js';
import { parseRequest } from './parse.js';

/** Read-only views of runs: describe, result (long-poll), list and history. */
export async function requireRun(ctx: EngineContext, namespace: string, ref: RunRef): Promise<RunRow> {
  checkNamespace(namespace);
  if (!ref.workflowId) throw new TidewayApiError('InvalidArgument', 'workflowId is required');
  const run = await findRun(ctx.db, namespace, ref.workflowId, ref.runId);
  if (!run) throw runNotFound(namespace, ref.workflowId, ref.runId);
  return run;
}

function runNotFound(namespace: string, workflowId: string, runId: string | undefined): TidewayApiError {
  return new TidewayApiError(
    'NotFound',
    runId
      ? `workflow "${workflowId}" has no run "${runId}" in namespace "${namespace}"`
      : `workflow "${workflowId}" not found in namespace "${namespace}"; check the id and namespace`,
  );
}

function summarize(run: RunRow, task?: WorkflowTaskRow, now = 0): WorkflowSummary {
  return {
    workflowId: run.workflowId,
    runId: run.runId,
    workflowType: run.workflowType,
    taskQueue: run.taskQueue,
    status: run.status,
    startTime: run.startTime,
    ...(run.closeTime !== null ? { closeTime: run.closeTime } : {}),
    historyLength: run.nextEventId - 1,
    ...(run.nextRunId ? { nextRunId: run.nextRunId } : {}),
    ...(task?.lastFailure ? { workflowTaskFailure: taskFailure(task, now) } : {}),
  };
}

/** A failing workflow task as list and describe show it: a poison workflow's dead-letter record. */
function taskFailure(task: WorkflowTaskRow, now: number): NonNullable<WorkflowSummary['workflowTaskFailure']> {
  const failure = task.lastFailure!;
  const cause = failure.info?.cause;
  const waiting = !task.leaseId || task.visibleAt <= now;
  return {
    failures: Math.max(1, task.attempt - 1),
    ...(typeof cause === 'string' ? { cause } : {}),
    lastFailure: failure,
    ...(waiting ? { nextAttemptTime: task.visibleAt } : {}),
  };
}

export async function describeWorkflow(
  ctx: EngineContext,
  namespace: string,
  ref: RunRef,
): Promise<WorkflowDescription> {
  const run = await requireRun(ctx, namespace, ref);
  const [task, activities] = await Promise.all([
    getWorkflowTask(ctx.db, namespace, run.runId),
    listRunActivityTasks(ctx.db, namespace, run.runId),
  ]);
  // After the reads: a task committed while they ran is visible from a time before this, not "backing off".
  const now = ctx.clock.now();
  const pendingActivities: PendingActivity[] = activities.map((a) => ({
    activityId: a.activityId,
    activityType: a.activityType,
    scheduledEventId: a.scheduledEventId,
    taskQueue: a.taskQueue,
    state: a.leaseId ? 'started' : a.visibleAt > now ? 'backing-off' : 'scheduled',
    attempt: a.attempt,
    scheduledTime: a.scheduledAt,
    ...(a.startedAt !== null ? { lastStartedTime: a.startedAt } : {}),
    ...(a.lastHeartbeatAt !== null ? { lastHeartbeatTime: a.lastHeartbeatAt } : {}),
    ...(a.heartbeatDetails ? { heartbeatDetails: a.heartbeatDetails } : {}),
    ...(!a.leaseId && a.visibleAt > now ? { nextAttemptTime: a.visibleAt } : {}),
    ...(a.lastFailure ? { lastFailure: a.lastFailure } : {}),
  }));
  return {
    ...summarize(run, task, now),
    pendingActivities,
    ...(task
      ? {
          pendingWorkflowTask: {
            state:
              task.leaseId && task.visibleAt > now ? 'started' : task.visibleAt > now ? 'backing-off' : 'scheduled',
            attempt: task.attempt,
            ...(task.lastFailure ? { lastFailure: task.lastFailure } : {}),
          },
        }
      : {}),
    ...(run.result ? { result: run.result } : {}),
    ...(run.failure ? { failure: run.failure } : {}),
    bufferedSignals: run.bufferedSignals ?? [],
  };
}

/** A run of a workflow id, read with other waiters' reads (see `RunReads`). */
async function readRunOf(ctx: EngineContext, namespace: string, workflowId: string, runId: string): Promise<RunRow> {
  checkNamespace(namespace);
  if (!workflowId) throw new TidewayApiError('InvalidArgument', 'workflowId is required');
  const run = await ctx.runReads.read(namespace, runId);
  if (run?.workflowId !== workflowId) throw runNotFound(namespace, workflowId, runId);
  return run;
}

/** The run's outcome, waiting up to `waitMs` for it to close. */
export function getWorkflowResult(
  ctx: EngineContext,
  namespace: string,
  ref: RunRef & { waitMs?: number },
  signal?: AbortSignal,
): Promise<WorkflowResult> {
  return waitForOutcome(ctx, namespace, ref, undefined, signal);
}

/** What an outcome is made of. */
type RunOutcome = Pick<RunRow, 'runId' | 'workflowId' | 'status' | 'nextRunId' | 'result' | 'failure'>;

/**
 * Waits up to `ref.waitMs` for the run to close. `watching` is a
 * subscription to the run's close taken before the run existed (a start of
 * this engine takes it before it commits): no close can have been missed,
 * so the run is known to be running and is not read first. Disposes it.
 * The wait ends early when the engine closes or `signal` aborts (whoever
 * asked is gone): a waiter must not outlive its caller by up to two minutes.
 */
export async function waitForOutcome(
  ctx: EngineContext,
  namespace: string,
  ref: RunRef & { waitMs?: number },
  watching?: Subscription,
  signal?: AbortSignal,
): Promise<WorkflowResult> {
  const deadline = ctx.clock.now() + Math.min(Math.max(ref.waitMs ?? 0, 0), 120_000);
  // Subscribed before each read, so a close committed between the read and the wait still wakes it. With
  // the run id known up front, the first read already counts: one read, then one per wake-up.
  let subscription =
    watching ?? (ref.runId ? ctx.notifier.subscribe(notifyKeys.runClosed(namespace, ref.runId)) : undefined);
  let subscribedTo = ref.runId;
  let run: RunOutcome;
  const stop = signal ? linkedSignal(ctx.closing, signal) : { signal: ctx.closing, dispose() {} };
  try {
    if (watching && ref.runId) {
      run = {
        runId: ref.runId,
        workflowId: ref.workflowId,
        status: 'running',
        nextRunId: null,
        result: null,
        failure: null,
      };
    } else {
      run = ref.runId
        ? await readRunOf(ctx, namespace, ref.workflowId, ref.runId)
        : await requireRun(ctx, namespace, ref);
    }
    while (run.status === 'running') {
      if (subscribedTo === run.runId && subscription) {
        const remaining = deadline - ctx.clock.now();
        if (remaining <= 0 || stop.signal.aborted) break;
        await subscription.wait(remaining, stop.signal);
        // Woken by this process's commit of the close: the outcome came with the wake-up.
        const closed = subscription.value as RunRow | undefined;
        if (closed?.runId === run.runId && closed.status !== 'running') {
          run = closed;
          break;
        }
        // Nobody to answer (or the engine is closing): no read of the run first.
        if (stop.signal.aborted) break;
      }
      subscription?.dispose();
      subscription = ctx.notifier.subscribe(notifyKeys.runClosed(namespace, run.runId));
      subscribedTo = run.runId;
      run = await readRunOf(ctx, namespace, run.workflowId, run.runId);
    }
  } finally {
    subscription?.dispose();
    stop.dispose();
  }
  return {
    runId: run.runId,
    status: run.status,
    ...(run.nextRunId ? { nextRunId: run.nextRunId } : {}),
    ...(run.result ? { result: run.result } : {}),
    ...(run.failure ? { failure: run.failure } : {}),
  };
}

export async function listWorkflows(
  ctx: EngineContext,
  namespace: string,
  raw: ListWorkflowsQuery,
): Promise<ListWorkflowsResponse> {
  checkNamespace(namespace);
  const query = parseRequest(ListWorkflowsQuerySchema, raw, 'list query');
  let after: { startTime: number; runId: string } | undefined;
  if (query.nextPageToken) {
    try {
      after = JSON.parse(Buffer.from(query.nextPageToken, 'base64url').toString('utf8'));
      if (typeof after?.startTime !== 'number' || typeof after.runId !== 'string') throw new Error();
    } catch {
      throw new TidewayApiError(
        'InvalidArgument',
        'malformed nextPageToken: pass it exactly as the last page returned it',
      );
    }
  }
  const rows = await listRuns(
    ctx.db,
    namespace,
    {
      status: query.status,
      workflowType: query.workflowType,
      workflowId: query.workflowId,
      workflowTaskFailing: query.workflowTaskFailing,
      after,
    },
    query.pageSize + 1,
  );
  const page = rows.slice(0, query.pageSize);
  const last = page[page.length - 1];
  // Only running runs can have a failing task; most pages need no second query.
  const running = page.filter((r) => r.status === 'running').map((r) => r.runId);
  const failing = new Map(
    (await listFailingWorkflowTasks(ctx.db, namespace, running)).map((t) => [t.runId, t] as const),
  );
  const now = ctx.clock.now();
  return {
    executions: page.map((run) => summarize(run, failing.get(run.runId), now)),
    ...(rows.length > query.pageSize && last
      ? {
          nextPageToken: Buffer.from(JSON.stringify({ startTime: last.startTime, runId: last.runId })).toString(
            'base64url',
          ),
        }
      : {}),
  };
}

export async function getWorkflowHistory(
  ctx: EngineContext,
  namespace: string,
  raw: { workflowId: string } & HistoryQuery,
): Promise<HistoryPage> {
  const query = parseRequest(HistoryQuerySchema, raw, 'history query');
  const run = await requireRun(ctx, namespace, { workflowId: raw.workflowId, runId: query.runId });
  const events = await readEvents(ctx.db, namespace, run.runId, query.fromEventId, query.pageSize + 1);
  const page = events.slice(0, query.pageSize);
  const last = page[page.length - 1];
  return {
    runId: run.runId,
    events: page,
    ...(events.length > query.pageSize && last ? { nextEventId: last.eventId + 1 } : {}),
  };
}
