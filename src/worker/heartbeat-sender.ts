import { type ActivityTask, CancelledFailure, type TidewayApi, TidewayApiError, toPayload } from '../protocol/index.js';
import type { Logger } from './logger.js';

/** Without a heartbeat timeout, heartbeats still reach the server at most this often. */
const DEFAULT_HEARTBEAT_THROTTLE_MS = 30_000;

/** Coalesces heartbeats: the first goes out at once, later ones at most once per throttle interval. */
export class HeartbeatSender {
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
      if (response.cancelRequested) {
        this.controller.abort(new CancelledFailure('activity cancellation requested by its workflow'));
      }
    } catch (error) {
      if (error instanceof TidewayApiError && error.code === 'NotFound') {
        this.controller.abort(new CancelledFailure(error.message));
        return;
      }
      // Keep the details (unless newer ones came in) so the retry still carries the resume point.
      this.pending ??= pending;
      this.logger.warn('heartbeat failed; will retry', { error: (error as Error).message });
    }
  }

  /**
   * Stops heartbeating. With `flushPending` (the attempt failed or was
   * cancelled), details still waiting for the throttle are sent first, so
   * the next attempt resumes from the latest point, not the last one sent.
   */
  async stop(options: { flushPending?: boolean } = {}): Promise<void> {
    this.stopped = true;
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
    await this.inFlight;
    if (options.flushPending && this.pending) await this.flush();
  }
}
