import {
  MAX_STARTS_PER_REQUEST,
  type StartOutcome,
  type StartWorkflowRequest,
  type StartWorkflowResponse,
  TidewayApiError,
} from '../protocol/index.js';

/*
 * A client's workflow starts over HTTP, gathered into shared requests when
 * they are made together: starts made in the same tick (a
 * `Promise.all` over many `start` or `execute` calls) leave in one
 * `startWorkflows` request, and each settles with its own line of the
 * answer, as it comes. A start made alone goes alone, to `startWorkflow`,
 * exactly as before, so a caller doing one thing at a time sees no change.
 * Unlike worker reports, starts are not held back while others are out: a
 * start-and-wait holds its request until its run closes, so a queue behind
 * it would hold new starts just as long.
 */

/** How starts reach the server. */
export interface StartSender {
  /** Sends one start to `startWorkflow`. */
  one(namespace: string, request: StartWorkflowRequest): Promise<StartWorkflowResponse>;
  /** Sends a `startWorkflows` request (`json` is its whole body); each outcome goes to `onOutcome` as it comes. */
  many(namespace: string, json: string, onOutcome: (outcome: StartOutcome) => void): Promise<void>;
}

export interface StartBatcherOptions {
  /** Largest body of a shared request, in bytes; a start over half of it always goes alone. */
  maxBatchBytes: number;
}

interface Pending {
  request: StartWorkflowRequest;
  json: string;
  bytes: number;
  resolve(value: StartWorkflowResponse): void;
  reject(error: unknown): void;
}

export class StartBatcher {
  /** Starts made this tick, by namespace; sent when the tick's promise jobs have run. */
  private readonly queued = new Map<string, Pending[]>();
  private readonly maxBatchBytes: number;
  /** The server refused the shared route as unknown: every start goes alone from then on. */
  private sharedRefused = false;

  constructor(
    private readonly sender: StartSender,
    options: StartBatcherOptions,
  ) {
    this.maxBatchBytes = options.maxBatchBytes;
  }

  /** Starts a workflow; settles with `startWorkflow`'s answer or error, as if it had been sent alone. */
  async submit(namespace: string, request: StartWorkflowRequest): Promise<StartWorkflowResponse> {
    // Throws here (a value JSON cannot carry) reject the returned promise, as a start sent alone does.
    const json = JSON.stringify(request);
    if (typeof json !== 'string') throw new TypeError('a workflow start must be a JSON object');
    const bytes = Buffer.byteLength(json);
    if (this.sharedRefused || bytes > this.maxBatchBytes / 2) return this.sender.one(namespace, request);
    return new Promise((resolve, reject) => {
      let queue = this.queued.get(namespace);
      if (!queue) {
        queue = [];
        this.queued.set(namespace, queue);
        // Every start of this tick reaches here before a job queued now runs.
        queueMicrotask(() => {
          this.queued.delete(namespace);
          this.send(namespace, queue!);
        });
      }
      queue.push({ request, json, bytes, resolve, reject });
    });
  }

  private send(namespace: string, queue: Pending[]): void {
    if (queue.length === 1 || this.sharedRefused) {
      for (const pending of queue) void this.sendAlone(namespace, pending);
      return;
    }
    let batch: Pending[] = [];
    let bytes = 16;
    for (const pending of queue) {
      const size = pending.bytes + 1;
      if (batch.length >= MAX_STARTS_PER_REQUEST || (batch.length > 0 && bytes + size > this.maxBatchBytes)) {
        void this.sendTogether(namespace, batch);
        batch = [];
        bytes = 16;
      }
      batch.push(pending);
      bytes += size;
    }
    if (batch.length === 1) void this.sendAlone(namespace, batch[0]!);
    else void this.sendTogether(namespace, batch);
  }

  /** Never rejects: the start's own promise carries the outcome. */
  private sendAlone(namespace: string, pending: Pending): Promise<void> {
    return this.sender.one(namespace, pending.request).then(pending.resolve, pending.reject);
  }

  /** Never rejects: each start's own promise carries its outcome. */
  private async sendTogether(namespace: string, batch: Pending[]): Promise<void> {
    const unanswered = new Set(batch);
    const onOutcome = (outcome: StartOutcome) => {
      const pending = batch[outcome.index];
      if (!pending || !unanswered.delete(pending)) return;
      if (outcome.ok) pending.resolve(outcome.response);
      else pending.reject(TidewayApiError.fromBody({ error: outcome.error }, outcome.status));
    };
    try {
      await this.sender.many(namespace, `{"starts":[${batch.map((p) => p.json).join(',')}]}`, onOutcome);
    } catch (error) {
      // A body over a limit lower than this client assumed (the server's, or a proxy's), or a server (or a
      // proxy) that does not know the route: each start can still go alone, exactly as it would have.
      if (
        error instanceof TidewayApiError &&
        (error.code === 'PayloadTooLarge' || error.code === 'NotFound') &&
        unanswered.size === batch.length
      ) {
        if (error.code === 'NotFound') this.sharedRefused = true;
        for (const pending of batch) void this.sendAlone(namespace, pending);
        return;
      }
      // The answer broke off (the connection dropped, the server went away): what has no line is unknown,
      // and a start sent again with its request id returns the run it created, if it did.
      for (const pending of unanswered) pending.reject(error);
      return;
    }
    for (const pending of unanswered) {
      pending.reject(
        new TidewayApiError(
          'Unavailable',
          `the server's answer to ${batch.length} workflow starts ended without the outcome of ` +
            `${JSON.stringify(pending.request.workflowId)}; send it again with the same request id`,
        ),
      );
    }
  }
}
