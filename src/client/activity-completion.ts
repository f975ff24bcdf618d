import { errorToFailure, type TidewayApi, toPayload } from '../protocol/index.js';

/**
 * Completes, fails or heartbeats an activity from outside its worker, by
 * the task token it handed out (`activityInfo().taskToken`) after throwing
 * `CompleteAsyncError`: a webhook, another service, a person approving.
 */
export class ActivityCompletionClient {
  constructor(
    private readonly api: TidewayApi,
    private readonly namespace: string,
    private readonly identity: string,
  ) {}

  /** Records the activity's result; the workflow continues with it. Fails if it already finished. */
  async complete(taskToken: string, result?: unknown): Promise<void> {
    await this.api.completeActivityTask(this.namespace, {
      taskToken,
      identity: this.identity,
      result: toPayload(result),
    });
  }

  /** Fails this attempt; it is retried per the activity's retry policy, like a thrown error. */
  async fail(taskToken: string, error: unknown): Promise<void> {
    await this.api.failActivityTask(this.namespace, {
      taskToken,
      identity: this.identity,
      failure: errorToFailure(error instanceof Error ? error : new Error(String(error))),
    });
  }

  /**
   * Keeps the attempt alive past its heartbeat timeout, with details a retry
   * resumes from. Returns whether the workflow asked the activity to stop.
   */
  async heartbeat(taskToken: string, details?: unknown): Promise<{ cancelRequested: boolean }> {
    return this.api.heartbeatActivityTask(this.namespace, {
      taskToken,
      ...(details !== undefined ? { details: toPayload(details) } : {}),
    });
  }
}
