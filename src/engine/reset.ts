import {
  type HistoryEvent,
  type NewEvent,
  type ResetWorkflowRequest,
  ResetWorkflowRequestSchema,
  type ResetWorkflowResponse,
  TidewayApiError,
} from '../protocol/index.js';
import {
  appendEvents,
  findRun,
  findRunByRequestId,
  flagRun,
  insertRun,
  insertWorkflowTask,
  isUniqueViolation,
  linkNextRun,
  lockRun,
  type Queryable,
  type RunRow,
  readEvents,
} from '../store/index.js';
import { applyParentClosePolicy } from './children.js';
import { closeRun } from './close-run.js';
import { checkNamespace, type EngineContext, numberEvents } from './context.js';
import { notifyKeys } from './notifier.js';
import { parseRequest } from './parse.js';
import { carryOverChildren, pendingStateOf, rebuildActivities, rebuildTimers } from './reset-pending-state.js';
import { scheduleWorkflowTimeout } from './start-workflow.js';

/**
 * Reset: a new run of the same workflow id that starts from a prefix of an
 * old run's history, so fixed code can re-drive a run without re-running
 * the activities it already completed (Temporal's reset is the model).
 *
 * The reset point is a WorkflowTaskCompleted event N. The new run gets
 * events 1..N-1 verbatim (same ids, times and payloads), then a
 * WorkflowTaskFailed (cause 'reset') that says which run, event and reason
 * it came from, the signals the base run received after N (re-applied by
 * default), the outcomes of children started in the prefix that arrived
 * after N, and a new WorkflowTaskScheduled: the task that completed at N
 * runs again with the code deployed now. Pending work is rebuilt from the
 * prefix: activities scheduled and not finished are dispatched again
 * (attempt 1); timers started and not fired keep their original due time;
 * running children started in the prefix are handed over to the new run.
 * The run of the id that is still running (the base run, or a later one)
 * is terminated, linked to the new run, so `result()` follows; its
 * children started after N get their parent close policy. All in one
 * transaction.
 */
export async function resetWorkflow(
  ctx: EngineContext,
  namespace: string,
  raw: { workflowId: string } & ResetWorkflowRequest,
): Promise<ResetWorkflowResponse> {
  checkNamespace(namespace);
  const request = parseRequest(ResetWorkflowRequestSchema, raw, 'reset request');
  if (!raw.workflowId) throw new TidewayApiError('InvalidArgument', 'workflowId is required');
  try {
    return await ctx.transition(async (tx, notify) => {
      if (request.requestId) {
        const same = await findRunByRequestId(tx, namespace, raw.workflowId, request.requestId);
        if (same) {
          const earlier = await describeEarlierReset(tx, same);
          if (earlier) return earlier;
          throw new TidewayApiError(
            'InvalidArgument',
            `request id "${request.requestId}" was already used to start run ${same.runId} of workflow ` +
              `"${raw.workflowId}"; give the reset a request id of its own`,
          );
        }
      }
      const found = await findRun(tx, namespace, raw.workflowId, request.runId);
      if (!found) {
        throw new TidewayApiError(
          'NotFound',
          `workflow "${raw.workflowId}"${request.runId ? ` has no run "${request.runId}"` : ' not found'} in namespace ` +
            `"${namespace}"; check the id and namespace`,
          { workflowId: raw.workflowId, ...(request.runId ? { runId: request.runId } : {}) },
        );
      }
      const base = (await lockRun(tx, namespace, found.runId)) ?? found;
      const history = await readEvents(tx, namespace, base.runId, 1, base.nextEventId);
      const resetEventId = chooseResetPoint(base, history, request);
      return resetRun(ctx, tx, base, history, resetEventId, request, notify);
    });
  } catch (error) {
    // A start of the same id committed between our look for a running run and our insert.
    if (!isUniqueViolation(error)) throw error;
    throw new TidewayApiError(
      'FailedPrecondition',
      `workflow "${raw.workflowId}" started a new run while it was being reset; look at its runs and retry the reset`,
    );
  }
}

const BOUNDARY = 'WorkflowTaskCompleted';

/** The WorkflowTaskCompleted event the request names, or a 4xx that says which ones would do. */
export function chooseResetPoint(
  base: Pick<RunRow, 'runId' | 'workflowId' | 'status'>,
  history: readonly HistoryEvent[],
  to: { toEventId?: number | undefined; toLastWorkflowTask?: boolean | undefined },
): number {
  const boundaries = history.filter((e) => e.type === BOUNDARY).map((e) => e.eventId);
  const first = boundaries[0];
  const last = boundaries[boundaries.length - 1];
  if (first === undefined || last === undefined) {
    throw new TidewayApiError(
      'FailedPrecondition',
      `run ${base.runId} of workflow "${base.workflowId}" (${base.status}) has no completed workflow task, so a reset ` +
        'would keep nothing; ' +
        (base.status === 'running'
          ? 'see `tideway workflow describe` for why its first task fails, deploy a fix and it continues by itself'
          : 'start a new run instead'),
      { runId: base.runId, status: base.status },
    );
  }
  if (to.toEventId === undefined) return to.toLastWorkflowTask ? last : first;
  const eventId = to.toEventId;
  const lastEventId = history.length;
  if (eventId > lastEventId) {
    throw new TidewayApiError(
      'InvalidArgument',
      `event ${eventId} is out of range: run ${base.runId} has events 1 to ${lastEventId}; reset to one of its ` +
        `WorkflowTaskCompleted events (${listIds(boundaries)})`,
      { runId: base.runId, lastEventId, validEventIds: boundaries.slice(-100) },
    );
  }
  const event = history[eventId - 1];
  if (event?.type !== BOUNDARY) {
    const before = boundaries.filter((id) => id < eventId).pop();
    const after = boundaries.find((id) => id > eventId);
    const nearest = [before, after].filter((id) => id !== undefined);
    throw new TidewayApiError(
      'InvalidArgument',
      `event ${eventId} (${event?.type ?? 'unknown'}) is not a workflow task boundary: reset to the ` +
        `WorkflowTaskCompleted event of a workflow task; the nearest ${nearest.length === 1 ? 'is' : 'are'} ` +
        `${nearest.join(' and ')} (all: ${listIds(boundaries)})`,
      {
        runId: base.runId,
        eventType: event?.type,
        nearestValidEventIds: nearest,
        validEventIds: boundaries.slice(-100),
      },
    );
  }
  return eventId;
}

function listIds(ids: readonly number[]): string {
  return ids.length <= 20 ? ids.join(', ') : `${ids.slice(0, 10).join(', ')}, …, ${ids.slice(-5).join(', ')}`;
}

async function resetRun(
  ctx: EngineContext,
  tx: Queryable,
  base: RunRow,
  history: readonly HistoryEvent[],
  resetEventId: number,
  request: ReturnType<typeof ResetWorkflowRequestSchema.parse>,
  notify: (key: string) => void,
): Promise<ResetWorkflowResponse> {
  const namespace = base.namespace;
  const now = ctx.clock.now();
  const newRunId = ctx.newId();
  const prefix = history.slice(0, resetEventId - 1);
  const after = history.slice(resetEventId);
  const started = prefix[0];
  const resetTask = history[resetEventId - 1];
  if (started?.type !== 'WorkflowExecutionStarted' || resetTask?.type !== BOUNDARY) {
    throw new Error(`run ${base.runId} has a malformed history`);
  }
  const pending = pendingStateOf(prefix);

  // The run of this id that is running now (the base, or a later run) gives way to the new one.
  const latest = await findRun(tx, namespace, base.workflowId);
  let running: RunRow | undefined = base.status === 'running' ? base : undefined;
  if (!running && latest?.status === 'running') {
    const locked = await lockRun(tx, namespace, latest.runId);
    if (locked?.status === 'running') running = locked;
  }

  const signals = request.reapplySignals ? after.filter((e) => e.type === 'WorkflowExecutionSignaled') : [];
  const extraEvents: NewEvent[] = [
    {
      type: 'WorkflowTaskFailed',
      attributes: {
        cause: 'reset',
        failure: {
          message: `reset from run ${base.runId} at event ${resetEventId}: ${request.reason}`,
          type: 'ResetWorkflow',
          info: {
            baseRunId: base.runId,
            resetEventId,
            reason: request.reason,
            ...(running ? { terminatedRunId: running.runId } : {}),
            reappliedSignals: signals.length,
          },
        },
        attempt: resetTask.attributes.attempt,
        identity: request.identity,
      },
    },
  ];
  for (const signal of signals) extraEvents.push({ type: signal.type, attributes: signal.attributes });
  extraEvents.push(...(await carryOverChildren(tx, base, pending.children, after, newRunId)));

  if (running) {
    const why = `reset: continued in run ${newRunId} (run ${base.runId} reset to event ${resetEventId}): ${request.reason}`;
    await closeRun(
      ctx,
      tx,
      running,
      numberEvents(
        running,
        [{ type: 'WorkflowExecutionTerminated', attributes: { reason: why, identity: request.identity } }],
        now,
      ),
      { status: 'terminated', now, failure: { message: why, type: 'TerminatedFailure' }, nextRunId: newRunId },
      notify,
    );
    // Children it started after the reset point (those not handed over) follow their parent close policy.
    await applyParentClosePolicy(ctx, tx, running, notify);
  }
  if (base !== running) await linkNextRun(tx, namespace, base.runId, newRunId);

  const parent = running?.parentRunId && running.parentInitiatedEventId !== null ? running : undefined;
  const run: RunRow = {
    namespace,
    runId: newRunId,
    workflowId: base.workflowId,
    workflowType: base.workflowType,
    taskQueue: base.taskQueue,
    status: 'running',
    requestId: request.requestId ?? null,
    nextEventId: prefix.length + 1,
    seenUpToEventId: 0,
    workflowTaskTimeoutMs: base.workflowTaskTimeoutMs,
    // Strictly after every earlier run of the id, so "the latest run" is the new one even within one millisecond.
    startTime: Math.max(now, (latest?.startTime ?? 0) + 1),
    closeTime: null,
    result: null,
    failure: null,
    nextRunId: null,
    executionDeadline:
      started.attributes.executionTimeoutMs !== undefined ? now + started.attributes.executionTimeoutMs : null,
    parentRunId: parent?.parentRunId ?? null,
    parentInitiatedEventId: parent?.parentInitiatedEventId ?? null,
    parentClosePolicy: parent?.parentClosePolicy ?? null,
  };
  const copied: HistoryEvent[] = prefix.map((e) =>
    e.eventId === 1 && e.type === 'WorkflowExecutionStarted'
      ? {
          ...e,
          attributes: {
            ...e.attributes,
            originalExecutionRunId: e.attributes.originalExecutionRunId ?? base.runId,
          },
        }
      : e,
  );
  const added = numberEvents(
    run,
    [...extraEvents, { type: 'WorkflowTaskScheduled', attributes: { taskQueue: run.taskQueue } }],
    now,
  );
  run.nextEventId += added.length;
  await insertRun(tx, run);
  await appendEvents(tx, namespace, run.runId, [...copied, ...added]);
  if (pending.startedChildren) await flagRun(tx, namespace, run.runId, 'has_children');
  await insertWorkflowTask(tx, { ...run, visibleAt: now });
  notify(notifyKeys.workflowQueue(namespace, run.taskQueue));
  await rebuildActivities(tx, run, pending.activities, now, notify);
  await rebuildTimers(tx, run, pending.timers, notify);
  await scheduleWorkflowTimeout(
    tx,
    run,
    started.attributes.runTimeoutMs !== undefined ? now + started.attributes.runTimeoutMs : undefined,
    notify,
  );
  return {
    workflowId: run.workflowId,
    runId: run.runId,
    baseRunId: base.runId,
    resetEventId,
    ...(running ? { terminatedRunId: running.runId } : {}),
    reappliedSignals: signals.length,
    started: true,
  };
}

/** A retried reset (same request id): the run the first one created, described from its reset event. */
async function describeEarlierReset(tx: Queryable, run: RunRow): Promise<ResetWorkflowResponse | undefined> {
  const events = await readEvents(tx, run.namespace, run.runId, 1, run.nextEventId);
  // The last one: a reset of a reset run copies the earlier marker into its prefix.
  const marker = events.findLast((e) => e.type === 'WorkflowTaskFailed' && e.attributes.cause === 'reset');
  if (marker?.type !== 'WorkflowTaskFailed') return undefined;
  const info = marker.attributes.failure.info ?? {};
  return {
    workflowId: run.workflowId,
    runId: run.runId,
    baseRunId: String(info.baseRunId ?? ''),
    resetEventId: Number(info.resetEventId ?? 0),
    ...(typeof info.terminatedRunId === 'string' ? { terminatedRunId: info.terminatedRunId } : {}),
    reappliedSignals: Number(info.reappliedSignals ?? 0),
    started: false,
  };
}
