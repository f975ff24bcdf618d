import { randomUUID } from 'node:crypto';
import {
  failureToError,
  fromPayload,
  type HistoryEvent,
  type TaskEvent,
  type TidewayApi,
  toPayloads,
  type UpdateOutcome,
  type UpdateWorkflowRequest,
  type WorkflowDescription,
  type WorkflowResult,
} from '../protocol/index.js';
import { WorkflowFailedError, WorkflowUpdateFailedError } from './errors.js';
import { type WatchEventsOptions, watchTaskEvents } from './watch-events.js';

/**
 * Where `reset` cuts a run's history: at a WorkflowTaskCompleted event (that
 * task runs again), at the last completed workflow task, or at the first
 * (the whole workflow runs again with the same input and signals).
 */
export type ResetPoint = { toEventId: number } | { toLastWorkflowTask: true } | { toFirstWorkflowTask: true };

/** How long one result long-poll (or a start that waits) may wait on the server before the client asks again. */
export const RESULT_POLL_MS = 30_000;

/**
 * A handle on a workflow id (and optionally one run of it): wait for its
 * result, describe it, read its history.
 */
export class WorkflowHandle<R = unknown> {
  constructor(
    private readonly api: TidewayApi,
    readonly namespace: string,
    readonly workflowId: string,
    /** The run this handle was created for; undefined means the latest run. */
    readonly runId: string | undefined,
  ) {}

  /**
   * Waits for the run (and the runs it continued as) to close and returns
   * the final result, or throws
   * `WorkflowFailedError` whose cause is the workflow's failure.
   */
  result(): Promise<R> {
    return awaitWorkflowResult<R>(this.api, this.namespace, this.workflowId, this.runId);
  }

  /**
   * The run's live task events (activity progress, milestones, output,
   * task outcomes) in order, each once; ends when the run has closed.
   * Reconnects by itself after a dropped connection, resuming from the
   * last event: `for await (const ev of handle.watchEvents({ after: lastSeq })) …`
   */
  watchEvents(options: WatchEventsOptions = {}): AsyncGenerator<TaskEvent, void, undefined> {
    const runId = options.runId ?? this.runId;
    return watchTaskEvents(this.api, this.namespace, this.workflowId, { ...options, ...(runId ? { runId } : {}) });
  }

  /**
   * Sends a signal (by definition or name). Resolves once the server has
   * recorded it: from then on it is durable and will be delivered, in order.
   * Rejects if the run is not running.
   */
  async signal<Args extends unknown[]>(signal: { name: string; __args?: Args } | string, ...args: Args): Promise<void> {
    await this.api.signalWorkflow(this.namespace, {
      workflowId: this.workflowId,
      ...(this.runId ? { runId: this.runId } : {}),
      signalName: typeof signal === 'string' ? signal : signal.name,
      args: toPayloads(args),
    });
  }

  /**
   * Sends an update and waits for its handler's result. Rejects with
   * WorkflowUpdateFailedError when the validator rejects it (nothing is
   * recorded) or the handler fails. `updateId` makes a retry idempotent.
   */
  async executeUpdate<Ret, Args extends unknown[]>(
    update: { name: string; __types?: { ret: Ret; args: Args } } | string,
    options: { args?: Args; updateId?: string } = {},
  ): Promise<Ret> {
    const handle = await this.startUpdate(update, options);
    return handle.result();
  }

  /** Sends an update and resolves once the workflow accepted it, with a handle on its result. */
  async startUpdate<Ret, Args extends unknown[]>(
    update: { name: string; __types?: { ret: Ret; args: Args } } | string,
    options: { args?: Args; updateId?: string } = {},
  ): Promise<WorkflowUpdateHandle<Ret>> {
    const updateId = options.updateId ?? randomUUID();
    const request = {
      workflowId: this.workflowId,
      ...(this.runId ? { runId: this.runId } : {}),
      updateName: typeof update === 'string' ? update : update.name,
      args: toPayloads(options.args ?? []),
      updateId,
    };
    for (;;) {
      const outcome = await this.api.updateWorkflow(this.namespace, { ...request, waitFor: 'accepted' });
      if (outcome.stage === 'requested') continue;
      const handle = new WorkflowUpdateHandle<Ret>(this.api, this.namespace, this.workflowId, outcome.runId, request);
      if (outcome.stage === 'rejected') handle.throwFor(outcome);
      return handle;
    }
  }

  /**
   * Asks the workflow for its state through a query handler (by definition
   * or name). Answered by a worker; writes no history; works on closed runs.
   * Rejects with QueryFailed (unknown query, handler threw) or
   * DeadlineExceeded / Unavailable when no worker answers.
   */
  async query<Ret, Args extends unknown[]>(
    query: { name: string; __types?: { ret: Ret; args: Args } } | string,
    ...args: Args
  ): Promise<Ret> {
    const { result } = await this.api.queryWorkflow(this.namespace, {
      workflowId: this.workflowId,
      ...(this.runId ? { runId: this.runId } : {}),
      queryName: typeof query === 'string' ? query : query.name,
      args: toPayloads(args),
    });
    return fromPayload<Ret>(result);
  }

  /**
   * Asks the workflow to cancel: its code sees a CancelledFailure at its
   * next await (timers, activities and conditions in cancellable scopes are
   * cancelled) and may clean up. If it lets the cancellation through, the run
   * ends as cancelled and `result()` throws WorkflowFailedError with a
   * CancelledFailure cause.
   */
  async cancel(reason = 'cancelled by client'): Promise<void> {
    await this.api.cancelWorkflow(this.namespace, {
      workflowId: this.workflowId,
      ...(this.runId ? { runId: this.runId } : {}),
      reason,
    });
  }

  /** Stops the run at once; `result()` then throws WorkflowFailedError with a TerminatedFailure cause. */
  async terminate(reason = 'terminated by client'): Promise<void> {
    await this.api.terminateWorkflow(this.namespace, {
      workflowId: this.workflowId,
      ...(this.runId ? { runId: this.runId } : {}),
      reason,
    });
  }

  /**
   * Re-drives this run (or the latest run) with the code deployed now: a
   * new run of the same workflow id starts from the history up to the
   * given completed workflow task, so activities that completed before it
   * are not run again. The running run of the id is terminated and linked
   * to the new one (`result()` on an old handle follows it); signals sent
   * after the reset point are delivered again unless `reapplySignals` is
   * false. Returns a handle on the new run.
   *
   * ```ts
   * const fresh = await handle.reset({ toLastWorkflowTask: true }, 'fixed the price lookup');
   * await fresh.result();
   * ```
   */
  async reset(
    to: ResetPoint,
    reason = 'reset by client',
    options: { reapplySignals?: boolean; requestId?: string } = {},
  ): Promise<WorkflowHandle<R>> {
    const response = await this.api.resetWorkflow(this.namespace, {
      workflowId: this.workflowId,
      ...(this.runId ? { runId: this.runId } : {}),
      ...to,
      reason,
      requestId: options.requestId ?? randomUUID(),
      ...(options.reapplySignals !== undefined ? { reapplySignals: options.reapplySignals } : {}),
    });
    return new WorkflowHandle<R>(this.api, this.namespace, this.workflowId, response.runId);
  }

  /** Status, timestamps, pending activities and workflow task of the run. */
  describe(): Promise<WorkflowDescription> {
    return this.api.describeWorkflow(this.namespace, {
      workflowId: this.workflowId,
      ...(this.runId ? { runId: this.runId } : {}),
    });
  }

  /** The run's whole event history (fetched page by page). */
  async fetchHistory(): Promise<HistoryEvent[]> {
    const events: HistoryEvent[] = [];
    let fromEventId = 1;
    let runId = this.runId;
    for (;;) {
      const page = await this.api.getWorkflowHistory(this.namespace, {
        workflowId: this.workflowId,
        ...(runId ? { runId } : {}),
        fromEventId,
      });
      runId = page.runId;
      events.push(...page.events);
      if (page.nextEventId === undefined) return events;
      fromEventId = page.nextEventId;
    }
  }
}

/** An accepted update: wait for its result. */
export class WorkflowUpdateHandle<Ret> {
  constructor(
    private readonly api: TidewayApi,
    readonly namespace: string,
    readonly workflowId: string,
    readonly runId: string,
    private readonly request: UpdateWorkflowRequest & { workflowId: string; updateId: string },
  ) {}

  get updateId(): string {
    return this.request.updateId;
  }

  /** The handler's result; rejects with WorkflowUpdateFailedError if it failed. */
  async result(): Promise<Ret> {
    for (;;) {
      const outcome = await this.api.updateWorkflow(this.namespace, {
        ...this.request,
        runId: this.runId,
        waitFor: 'completed',
      });
      if (outcome.stage !== 'completed' && outcome.stage !== 'rejected') continue;
      this.throwFor(outcome);
      return fromPayload<Ret>(outcome.result);
    }
  }

  /** @internal Throws for a rejected or failed outcome. */
  throwFor(outcome: UpdateOutcome): void {
    if (outcome.stage !== 'rejected' && !outcome.failure) return;
    const cause = failureToError(outcome.failure ?? { message: 'update rejected', type: 'Error' });
    const stage = outcome.stage === 'rejected' ? 'rejected' : 'failed';
    throw new WorkflowUpdateFailedError(
      `update "${this.request.updateName}" on workflow "${this.workflowId}" ${stage}: ${cause.message}`,
      this.updateId,
      stage,
      cause,
    );
  }
}

/**
 * The outcome of the run and of the runs it handed its work on to (continued
 * as new, or retried after failing): the last one's. `known` is an outcome
 * of the first run already in hand (a start that waited answers with one),
 * used instead of asking for it first.
 */
export async function awaitFinalOutcome(
  api: TidewayApi,
  namespace: string,
  workflowId: string,
  firstRunId: string | undefined,
  known?: WorkflowResult,
): Promise<WorkflowResult> {
  let runId = firstRunId;
  let next = known;
  for (;;) {
    const outcome =
      next ??
      (await api.getWorkflowResult(namespace, { workflowId, ...(runId ? { runId } : {}), waitMs: RESULT_POLL_MS }));
    next = undefined;
    if (outcome.status !== 'completed' && outcome.nextRunId) runId = outcome.nextRunId;
    else if (outcome.status !== 'running') return outcome;
  }
}

/** What `WorkflowHandle.result()` does: the final result, or `WorkflowFailedError`. */
export async function awaitWorkflowResult<R>(
  api: TidewayApi,
  namespace: string,
  workflowId: string,
  firstRunId: string | undefined,
  known?: WorkflowResult,
): Promise<R> {
  const outcome = await awaitFinalOutcome(api, namespace, workflowId, firstRunId, known);
  if (outcome.status === 'completed') return fromPayload<R>(outcome.result);
  const cause = failureToError(outcome.failure ?? { message: `workflow ${outcome.status}`, type: 'Error' });
  throw new WorkflowFailedError(
    `workflow "${workflowId}" ${outcome.status}: ${cause.message}`,
    workflowId,
    outcome.runId,
    outcome.status,
    cause,
  );
}
