import { type ActivityContext, type ActivityInfo, activityStorage } from '../activity/context.js';
import {
  type ActivityTask,
  ApplicationFailure,
  errorToFailure,
  fromPayload,
  fromPayloads,
  type TidewayApi,
  TidewayApiError,
  toPayload,
} from '../protocol/index.js';
import type { Logger } from './logger.js';
import type { FunctionMap } from './registry.js';

/** Without a heartbeat timeout, heartbeats still reach the server at most this often. */
const DEFAULT_HEARTBEAT_THROTTLE_MS = 30_000;

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
  ) {}

  async execute(task: ActivityTask, shutdown: AbortSignal): Promise<void> {
    const controller = new AbortController();
    const onShutdown = () => controller.abort(new Error('worker is shutting down'));
    shutdown.addEventListener('abort', onShutdown, { once: true });
    const heartbeats = new HeartbeatSender(this.api, this.namespace, task, controller, this.logger);
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
    };
    const context: ActivityContext = {
      info,
      heartbeat: (details) => heartbeats.record(details),
      signal: controller.signal,
    };
    try {
      const fn = this.activities.get(task.activityType);
      if (!fn) throw new Error(`activity "${task.activityType}" is not registered on this worker`);
      const result = await activityStorage.run(context, () => fn(...fromPayloads(task.args)));
      await heartbeats.stop();
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
      await heartbeats.stop();
      await this.report(task, { error });
    } finally {
      shutdown.removeEventListener('abort', onShutdown);
    }
  }

  private async report(task: ActivityTask, outcome: { result: ReturnType<typeof toPayload> } | { error: unknown }) {
    try {
      if ('result' in outcome) {
        try {
          await this.api.completeActivityTask(this.namespace, {
            taskToken: task.taskToken,
            identity: this.identity,
            result: outcome.result,
          });
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
}

/** Coalesces heartbeats: the first goes out at once, later ones at most once per throttle interval. */
class HeartbeatSender {
  private readonly throttleMs: number;
  private lastSentAt = 0;
  private pending: { details: unknown } | undefined;
  private timer: NodeJS.Timeout | undefined;
  private inFlight: Promise<void> | undefined;
  private stopped = false;

  constructor(
    private readonly api: TidewayApi,
    private readonly namespace: string,
    private readonly task: ActivityTask,
    private readonly controller: AbortController,
    private readonly logger: Logger,
  ) {
    this.throttleMs = task.heartbeatTimeoutMs
      ? Math.max(50, Math.floor(task.heartbeatTimeoutMs * 0.5))
      : DEFAULT_HEARTBEAT_THROTTLE_MS;
  }

  record(details: unknown): void {
    if (this.stopped) return;
    this.pending = { details };
    if (this.timer || this.inFlight) return;
    const wait = Math.max(0, this.lastSentAt + this.throttleMs - Date.now());
    this.timer = setTimeout(() => {
      this.timer = undefined;
      this.inFlight = this.flush().finally(() => {
        this.inFlight = undefined;
        if (this.pending && !this.stopped) this.record(this.pending.details);
      });
    }, wait);
  }

  private async flush(): Promise<void> {
    const pending = this.pending;
    if (!pending) return;
    this.pending = undefined;
    this.lastSentAt = Date.now();
    try {
      const response = await this.api.heartbeatActivityTask(this.namespace, {
        taskToken: this.task.taskToken,
        ...(pending.details !== undefined ? { details: toPayload(pending.details) } : {}),
      });
      if (response.cancelRequested) this.controller.abort(new Error('activity cancellation requested'));
    } catch (error) {
      if (error instanceof TidewayApiError && error.code === 'NotFound') {
        this.controller.abort(new Error(error.message));
        return;
      }
      this.logger.warn('heartbeat failed; will retry with the next one', { error: (error as Error).message });
    }
  }

  async stop(): Promise<void> {
    this.stopped = true;
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
    await this.inFlight;
  }
}
