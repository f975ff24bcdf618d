import { CompleteAsyncError } from '../activity/complete-async.js';
import { type ActivityContext, type ActivityInfo, activityStorage } from '../activity/context.js';
import {
  type ActivityTask,
  ApplicationFailure,
  CancelledFailure,
  errorToFailure,
  fromPayload,
  fromPayloads,
  type Payload,
  type TidewayApi,
  TidewayApiError,
  toPayload,
} from '../protocol/index.js';
import { ActivityEventSender } from './activity-events.js';
import type { EagerDispatch } from './eager-dispatch.js';
import { HeartbeatSender } from './heartbeat-sender.js';
import type { Logger } from './logger.js';
import type { FunctionMap } from './registry.js';

/**
 * How long a result waits for a workflow slot when every one is taken (a
 * burst): with one, the workflow runs on here and its next decision goes
 * with the result (one transaction); without, the result goes alone and the
 * workflow's next task takes the queue (two more transitions and a poll).
 */
const RUN_AHEAD_SLOT_WAIT_MS = 100;

/**
 * Runs one activity attempt: calls the function with its arguments inside
 * an activity context (info, heartbeat, cancellation), then reports the
 * result or the failure. Heartbeats are throttled to a fraction of the
 * heartbeat timeout; a lost lease aborts the attempt's signal.
 */
export class ActivityExecutor {
  constructor(
    private readonly api: TidewayApi,
    private readonly namespace: string,
    private readonly identity: string,
    private readonly activities: FunctionMap,
    private readonly logger: Logger,
    private readonly eager?: EagerDispatch,
  ) {}

  async execute(task: ActivityTask, shutdown: AbortSignal): Promise<void> {
    const controller = new AbortController();
    const onShutdown = () => controller.abort(new CancelledFailure('worker is shutting down'));
    shutdown.addEventListener('abort', onShutdown, { once: true });
    const heartbeats = new HeartbeatSender(this.api, this.namespace, task, controller, this.logger);
    const events = new ActivityEventSender(this.api, this.namespace, task.taskToken, controller, this.logger);
    const finish = async (failed: boolean) => {
      await heartbeats.stop({ flushPending: failed });
      await events.stop();
    };
    const info: ActivityInfo = {
      namespace: this.namespace,
      workflowId: task.workflowId,
      runId: task.runId,
      workflowType: task.workflowType,
      activityId: task.activityId,
      activityType: task.activityType,
      taskQueue: task.taskQueue,
      attempt: task.attempt,
      scheduledTime: task.scheduledTime,
      startedTime: task.startedTime,
      deadline: task.deadline,
      heartbeatDetails: task.heartbeatDetails ? fromPayload(task.heartbeatDetails) : undefined,
      heartbeatTimeoutMs: task.heartbeatTimeoutMs,
      taskToken: task.taskToken,
    };
    const context: ActivityContext = {
      info,
      heartbeat: (details) => heartbeats.record(details),
      report: (event) => events.enqueue(event),
      // Made only when the activity asks for it: building an AbortSignal cost 1.4% of a worker's CPU per step.
      get signal() {
        return controller.signal;
      },
    };
    try {
      const fn = this.activities.get(task.activityType);
      if (!fn) throw new Error(`activity "${task.activityType}" is not registered on this worker`);
      const result = await activityStorage.run(context, () => fn(...fromPayloads(task.args)));
      await finish(false);
      const payload = toPayload(result);
      try {
        JSON.stringify(payload);
      } catch (error) {
        // Reporting would fail the same way on every attempt (and the attempt would only end at its timeout).
        throw ApplicationFailure.nonRetryable(
          `activity ${task.activityType} returned a value that cannot be encoded as JSON: ${(error as Error).message}`,
          'PayloadEncodingError',
        );
      }
      await this.report(task, { result: payload });
    } catch (error) {
      await finish(!(error instanceof CompleteAsyncError));
      if (error instanceof CompleteAsyncError) {
        // Someone else completes it with the task token; the attempt's timeouts still apply.
        this.logger.info(`activity ${task.activityType} (id ${task.activityId}) will complete asynchronously`, {
          workflowId: task.workflowId,
        });
        return;
      }
      await this.report(task, { error });
    } finally {
      shutdown.removeEventListener('abort', onShutdown);
    }
  }

  private async report(task: ActivityTask, outcome: { result: ReturnType<typeof toPayload> } | { error: unknown }) {
    try {
      if ('result' in outcome) {
        try {
          await this.reportResult(task, outcome.result, true);
        } catch (error) {
          if (!(error instanceof TidewayApiError) || error.code !== 'PayloadTooLarge') throw error;
          // Retrying would produce the same oversized result: fail for good, saying why.
          await this.api.failActivityTask(this.namespace, {
            taskToken: task.taskToken,
            identity: this.identity,
            failure: errorToFailure(ApplicationFailure.nonRetryable(error.message, 'PayloadTooLarge')),
          });
        }
        return;
      }
      await this.api.failActivityTask(this.namespace, {
        taskToken: task.taskToken,
        identity: this.identity,
        failure: errorToFailure(outcome.error),
      });
    } catch (error) {
      // A lost lease means the server already moved on (timeout → retry elsewhere); nothing to undo here.
      this.logger.warn(`could not report activity ${task.activityType} (id ${task.activityId}) result`, {
        workflowId: task.workflowId,
        error: (error as Error).message,
      });
    }
  }

  /**
   * Reports a result. A workflow slot is held for the task it creates: run
   * ahead from the cached run and reported with the result, or handed back by
   * the engine (eager dispatch). A request the task run ahead made too large
   * is sent again with the result alone.
   */
  private async reportResult(task: ActivityTask, result: Payload, mayRunAhead: boolean): Promise<void> {
    const offer =
      this.eager?.offerWorkflowTask(task.workflowType, task.taskQueue) ??
      (await this.eager?.waitForWorkflowSlot(task.workflowType, task.taskQueue, RUN_AHEAD_SLOT_WAIT_MS));
    const ahead = offer && mayRunAhead ? await this.eager?.runAhead(task, result) : undefined;
    let response: Awaited<ReturnType<TidewayApi['completeActivityTask']>>;
    try {
      response = await this.api.completeActivityTask(this.namespace, {
        taskToken: task.taskToken,
        identity: this.identity,
        result,
        ...(offer ? { eagerWorkflowTypes: [task.workflowType] } : {}),
        ...(ahead ? { nextWorkflowTask: ahead.next } : {}),
      });
    } catch (error) {
      offer?.release();
      await ahead?.settle(undefined);
      if (ahead && error instanceof TidewayApiError && error.code === 'PayloadTooLarge') {
        return this.reportResult(task, result, false);
      }
      throw error;
    }
    await ahead?.settle(response?.nextWorkflowTask);
    if (response?.workflowTask && offer) this.eager?.runWorkflowTask(response.workflowTask);
    else offer?.release();
  }
}
