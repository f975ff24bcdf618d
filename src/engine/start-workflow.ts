import type { z } from 'zod';
import {
  type NewEvent,
  type ParentClosePolicy,
  type StartWorkflowRequest,
  StartWorkflowRequestSchema,
  type StartWorkflowResponse,
  TidewayApiError,
  type WorkflowTask,
} from '../protocol/index.js';
import {
  appendEvents,
  findRun,
  findRunByRequestId,
  findRunsForStart,
  insertRun,
  insertWorkflowTask,
  isUniqueViolation,
  lockRun,
  type Queryable,
  type RunRow,
} from '../store/index.js';
import { closeRun } from './close-run.js';
import { checkNamespace, checkPayloadSize, type EngineContext, numberEvents } from './context.js';
import { startFresh } from './fresh-starts.js';
import { knowAfterCommit } from './known-runs.js';
import { notifyKeys } from './notifier.js';
import { parseRequest } from './parse.js';
import { checkWorkflowTypeKnown } from './registered-types.js';
import { releaseTask } from './release-task.js';
import { queueTaskEvent } from './task-events.js';
import { encodeTaskToken } from './task-token.js';
import { setTimer } from './timers.js';
import { waitForOutcome } from './visibility.js';

export const DEFAULT_WORKFLOW_TASK_TIMEOUT_MS = 10_000;

/**
 * Starts a run. A second start of a running id is rejected
 * (`WorkflowAlreadyStarted`) unless the reuse policy says terminate-if-running;
 * after the previous run closed, the policy decides; a retried start with the
 * same request id returns the run the first one created. With
 * `waitForResultMs` it then waits for the run to close (start-and-wait).
 */
export async function startWorkflow(
  ctx: EngineContext,
  namespace: string,
  raw: StartWorkflowRequest,
  signal?: AbortSignal,
): Promise<StartWorkflowResponse> {
  checkNamespace(namespace);
  const request = parseRequest(StartWorkflowRequestSchema, raw, 'start workflow request');
  checkPayloadSize(ctx, request.args, 'the workflow input');
  await checkWorkflowTypeKnown(ctx, namespace, request.taskQueue, request.workflowType);
  const runId = ctx.newId();
  // A start that waits watches its new run's close from before the run exists: no close can slip past
  // unseen, so the wait needs no read of the run first.
  const closeWatch =
    request.waitForResultMs === undefined ? undefined : ctx.notifier.subscribe(notifyKeys.runClosed(namespace, runId));
  let response: StartWorkflowResponse;
  try {
    response = await startAndHandOff(ctx, namespace, request, runId);
  } catch (error) {
    closeWatch?.dispose();
    throw error;
  }
  if (!closeWatch) return response;
  // A retried start (same request id) found the run an earlier one created: that run is read first.
  const ownRun = response.started && response.runId === runId;
  if (!ownRun) closeWatch.dispose();
  const outcome = await waitForOutcome(
    ctx,
    namespace,
    { workflowId: response.workflowId, runId: response.runId, waitMs: request.waitForResultMs },
    ownRun ? closeWatch : undefined,
    signal,
  );
  return { ...response, outcome };
}

/** The start itself; a worker's poll idle in this engine gets the new run's first task straight from it (see WaitingPolls). */
async function startAndHandOff(
  ctx: EngineContext,
  namespace: string,
  request: z.output<typeof StartWorkflowRequestSchema>,
  runId: string,
): Promise<StartWorkflowResponse> {
  const handoff = ctx.waitingPolls.take(namespace, request.taskQueue, request.workflowType);
  let firstTask: WorkflowTask | undefined;
  try {
    const { firstTask: leased, ...response } = await startRun(ctx, namespace, request, runId, handoff && ctx.newId());
    firstTask = leased;
    return response;
  } finally {
    if (handoff && !firstTask) handoff.cancel();
    else if (handoff && firstTask && !handoff.deliver(firstTask)) giveBack(ctx, namespace, firstTask);
  }
}

/**
 * A first task its poll answered without (the start took longer than the
 * poll's grace): back to the queue for the next poll, rather than left to
 * wait out a lease no worker holds. If that fails, the lease runs out.
 */
function giveBack(ctx: EngineContext, namespace: string, task: WorkflowTask): void {
  releaseTask(ctx, namespace, task.taskToken).catch((error: unknown) =>
    console.error('[tideway] could not give back a first task its poll answered without', error),
  );
}

/** A start after its checks: a fresh id in one round trip, else by the id's reuse policy. */
async function startRun(
  ctx: EngineContext,
  namespace: string,
  request: z.output<typeof StartWorkflowRequestSchema>,
  runId: string,
  leaseFirstTaskAs: string | undefined,
): Promise<CreatedRun> {
  try {
    // Most starts name an id that has no runs: the guard and the inserts go in one message, no look first.
    // Many starts at once share transactions (see startFresh).
    const fresh = await startFresh(ctx, namespace, request, runId, leaseFirstTaskAs);
    if (fresh) return fresh;
    return await ctx.transition(async (tx, notify): Promise<CreatedRun> => {
      const { sameRequest, latest } = await findRunsForStart(tx, namespace, request.workflowId, request.requestId);
      if (sameRequest) return { workflowId: sameRequest.workflowId, runId: sameRequest.runId, started: false };
      await applyReusePolicy(ctx, tx, namespace, request, notify, { latest });
      return createRun(ctx, tx, namespace, request, notify, { runId, leaseFirstTaskAs });
    });
  } catch (error) {
    // Two starts raced: the unique index on running ids let one win, or the other already saw the
    // winner's run. If the winner was this very start (a retry with the same request id), return its run.
    const raced =
      isUniqueViolation(error) || (error instanceof TidewayApiError && error.code === 'WorkflowAlreadyStarted');
    if (!raced) throw error;
    if (request.requestId) {
      const same = await findRunByRequestId(ctx.db, namespace, request.workflowId, request.requestId);
      if (same) return { workflowId: same.workflowId, runId: same.runId, started: false };
    }
    if (error instanceof TidewayApiError) throw error;
    throw alreadyStarted(request.workflowId, namespace);
  }
}

/** A run just created; with `firstTask` when its first task was leased as it was inserted. */
export type CreatedRun = StartWorkflowResponse & { firstTask?: WorkflowTask };

/**
 * Inserts a new run: WorkflowExecutionStarted, any `extraEvents` (a signal
 * sent with the start), then its first workflow task; and the timer for its
 * run / execution timeout, if it has one. With `leaseFirstTaskAs`, the task
 * is inserted leased and returned, for the caller to hand to a worker once
 * the transaction commits.
 */
export async function createRun(
  ctx: EngineContext,
  tx: Queryable,
  namespace: string,
  request: z.output<typeof StartWorkflowRequestSchema>,
  notify: (key: string) => void,
  options: {
    extraEvents?: readonly NewEvent[];
    /**
     * The run's id: a start picks it ahead, to watch the run's close from before it exists; a continued
     * run has its own. For a continued run, also the deadline of the chain it belongs to.
     */
    runId?: string;
    executionDeadline?: number | null;
    /** For a child workflow: the run that started it. */
    parent?: { runId: string; initiatedEventId: number; closePolicy: ParentClosePolicy };
    /** For a retry of a failed run: its attempt number, and how long before its first task. */
    attempt?: number;
    firstTaskDelayMs?: number;
    leaseFirstTaskAs?: string | undefined;
  } = {},
): Promise<CreatedRun> {
  const now = ctx.clock.now();
  const extraEvents = options.extraEvents ?? [];
  const executionDeadline =
    options.executionDeadline !== undefined
      ? options.executionDeadline
      : request.executionTimeoutMs
        ? now + request.executionTimeoutMs
        : null;
  const run: RunRow = {
    namespace,
    runId: options.runId ?? ctx.newId(),
    workflowId: request.workflowId,
    workflowType: request.workflowType,
    taskQueue: request.taskQueue,
    status: 'running',
    requestId: request.requestId ?? null,
    nextEventId: 1,
    seenUpToEventId: 0,
    workflowTaskTimeoutMs: request.workflowTaskTimeoutMs ?? DEFAULT_WORKFLOW_TASK_TIMEOUT_MS,
    startTime: now,
    closeTime: null,
    result: null,
    failure: null,
    nextRunId: null,
    executionDeadline,
    parentRunId: options.parent?.runId ?? null,
    parentInitiatedEventId: options.parent?.initiatedEventId ?? null,
    parentClosePolicy: options.parent?.closePolicy ?? null,
  };
  const events = numberEvents(
    run,
    [
      {
        type: 'WorkflowExecutionStarted',
        attributes: {
          workflowType: run.workflowType,
          taskQueue: run.taskQueue,
          input: request.args,
          ...(request.requestId ? { requestId: request.requestId } : {}),
          ...(request.executionTimeoutMs !== undefined ? { executionTimeoutMs: request.executionTimeoutMs } : {}),
          ...(request.runTimeoutMs !== undefined ? { runTimeoutMs: request.runTimeoutMs } : {}),
          workflowTaskTimeoutMs: run.workflowTaskTimeoutMs,
          ...(request.retryPolicy ? { retryPolicy: request.retryPolicy } : {}),
          ...(options.attempt ? { attempt: options.attempt } : {}),
        },
      },
      ...extraEvents,
      { type: 'WorkflowTaskScheduled', attributes: { taskQueue: run.taskQueue } },
    ],
    now,
  );
  run.nextEventId = events.length + 1;
  await insertRun(tx, run);
  await appendEvents(tx, namespace, run.runId, events);
  const leaseId = options.firstTaskDelayMs ? undefined : options.leaseFirstTaskAs;
  const lease = leaseId ? { leaseId, leasedAt: now, lastEventIdAtLease: events.length } : undefined;
  const taskVisibleAt = now + (lease ? run.workflowTaskTimeoutMs : (options.firstTaskDelayMs ?? 0));
  knowAfterCommit(tx, {
    run: { ...run, hasChildren: false, hasUpdates: false },
    workflowTask: {
      namespace,
      runId: run.runId,
      workflowId: run.workflowId,
      workflowType: run.workflowType,
      taskQueue: run.taskQueue,
      attempt: 1,
      visibleAt: taskVisibleAt,
      leaseId: lease?.leaseId ?? null,
      leasedAt: lease?.leasedAt ?? null,
      lastEventIdAtLease: lease?.lastEventIdAtLease ?? null,
      lastFailure: null,
      speculative: false,
      updatesPending: false,
    },
    activities: new Map(),
  });
  if (leaseId) {
    // Handed to a waiting poll of this engine.
    await insertWorkflowTask(tx, { ...run, visibleAt: taskVisibleAt, lease });
    queueTaskEvent(tx, run, { source: 'workflow', kind: 'started', attempt: 1 }, { now });
    // No poller needs waking, but every replica's polls must look again when the lease could run out.
    notify(notifyKeys.workflowTaskVisibleAt(namespace, run.taskQueue, now + run.workflowTaskTimeoutMs));
  } else {
    await insertWorkflowTask(tx, { ...run, visibleAt: taskVisibleAt });
    notify(notifyKeys.workflowQueue(namespace, run.taskQueue));
  }
  await scheduleWorkflowTimeout(tx, run, request.runTimeoutMs ? now + request.runTimeoutMs : undefined, notify);
  const response = { workflowId: run.workflowId, runId: run.runId, started: true };
  if (!leaseId) return response;
  const firstTask: WorkflowTask = {
    taskToken: encodeTaskToken({ kind: 'workflow', namespace, runId: run.runId, leaseId }),
    workflowId: run.workflowId,
    runId: run.runId,
    workflowType: run.workflowType,
    taskQueue: run.taskQueue,
    attempt: 1,
    taskTime: now,
    previousSeenUpToEventId: 0,
    // As a read of the history would return them: the worker gets its own copy.
    events: JSON.parse(JSON.stringify(events)),
    eventsComplete: true,
    lastEventId: events.length,
  };
  return { ...response, firstTask };
}

/** One timer for whichever of the run's deadlines comes first. */
export async function scheduleWorkflowTimeout(
  tx: Queryable,
  run: RunRow,
  runDeadline: number | undefined,
  notify: (key: string) => void,
): Promise<void> {
  const candidates: { at: number; timeoutType: 'execution' | 'run' }[] = [];
  if (run.executionDeadline !== null) candidates.push({ at: run.executionDeadline, timeoutType: 'execution' });
  if (runDeadline !== undefined) candidates.push({ at: runDeadline, timeoutType: 'run' });
  const first = candidates.sort((a, b) => a.at - b.at)[0];
  if (!first) return;
  await setTimer(
    tx,
    {
      namespace: run.namespace,
      runId: run.runId,
      timerKey: 'workflow-timeout',
      kind: 'workflow-timeout',
      dueAt: first.at,
      data: { timeoutType: first.timeoutType },
    },
    notify,
  );
}

export async function applyReusePolicy(
  ctx: EngineContext,
  tx: Queryable,
  namespace: string,
  request: { workflowId: string; idReusePolicy?: string | undefined },
  notify: (key: string) => void,
  /** The id's latest run, when the caller has already read it in this transaction. */
  known?: { latest: RunRow | undefined },
): Promise<void> {
  const latest = known ? known.latest : await findRun(tx, namespace, request.workflowId);
  if (!latest) return;
  const policy = request.idReusePolicy ?? 'allow';
  if (latest.status === 'running') {
    if (policy !== 'terminate-if-running') throw alreadyStarted(request.workflowId, namespace, latest.runId);
    const run = await lockRun(tx, namespace, latest.runId);
    if (run?.status !== 'running') return;
    const now = ctx.clock.now();
    const reason = 'terminated by a new start with idReusePolicy terminate-if-running';
    const events = numberEvents(
      run,
      [{ type: 'WorkflowExecutionTerminated', attributes: { reason, identity: 'tideway' } }],
      now,
    );
    await closeRun(
      ctx,
      tx,
      run,
      events,
      { status: 'terminated', now, failure: { message: reason, type: 'TerminatedFailure' } },
      notify,
    );
    return;
  }
  if (policy === 'reject') {
    throw new TidewayApiError(
      'WorkflowAlreadyStarted',
      `workflow id "${request.workflowId}" was already used (last run ${latest.status}) and idReusePolicy is "reject"; use a new id`,
      { workflowId: request.workflowId, runId: latest.runId, status: latest.status },
    );
  }
  if (policy === 'allow-if-failed' && latest.status === 'completed') {
    throw new TidewayApiError(
      'WorkflowAlreadyStarted',
      `workflow id "${request.workflowId}" already completed and idReusePolicy is "allow-if-failed"; use a new id`,
      { workflowId: request.workflowId, runId: latest.runId, status: latest.status },
    );
  }
}

export function alreadyStarted(workflowId: string, namespace: string, runId?: string): TidewayApiError {
  return new TidewayApiError(
    'WorkflowAlreadyStarted',
    `workflow "${workflowId}" is already running in namespace "${namespace}"; wait for it, use another id, ` +
      'or start with idReusePolicy "terminate-if-running"',
    { workflowId, ...(runId ? { runId } : {}) },
  );
}
