import { randomUUID } from 'node:crypto';
import { hostname } from 'node:os';
import {
  type BulkFilter,
  type BulkOperationKind,
  type BulkOperationResponse,
  type Duration,
  type IdReusePolicy,
  type ListWorkflowsQuery,
  optionalMs,
  type ResetTo,
  type RetryPolicy,
  type StartWorkflowRequest,
  type StartWorkflowResponse,
  type TidewayApi,
  TidewayApiError,
  toPayloads,
  type WorkflowStatus,
  type WorkflowSummary,
} from '../protocol/index.js';
import { ActivityCompletionClient } from './activity-completion.js';
import { type Connection, type ConnectionOptions, connectHttp } from './connection.js';
import { awaitWorkflowResult, RESULT_POLL_MS, WorkflowHandle } from './workflow-handle.js';

export interface ClientOptions extends ConnectionOptions {
  /** Default TIDEWAY_NAMESPACE, else 'default'. */
  namespace?: string;
  /** An existing connection (e.g. the in-process one of a test environment) instead of an address. */
  connection?: Connection;
  /** Recorded with activity completions made through `client.activities`; default client-pid@hostname. */
  identity?: string;
}

type AnyWorkflow = (...args: any[]) => Promise<any>;
type ResultOf<W> = W extends (...args: any[]) => Promise<infer R> ? R : unknown;
type ArgsOf<W> = W extends (...args: infer A) => any ? A : unknown[];

/** How to start a workflow. */
export interface WorkflowStartOptions<A extends unknown[] = unknown[]> {
  /** The workflow id: your business key ('order-42'); at most one running run per id. */
  id: string;
  taskQueue: string;
  args?: A;
  /** What a start does when the id was used before (default 'allow' once the previous run closed). */
  idReusePolicy?: IdReusePolicy;
  /** Makes a retried start idempotent; one is generated per call if omitted. */
  requestId?: string;
  executionTimeout?: Duration;
  runTimeout?: Duration;
  /** How long a worker may hold one workflow task (default 10s). */
  workflowTaskTimeout?: Duration;
  /**
   * Retries of the whole workflow: a failed run is followed by a new run
   * with the same input after backoff (none by default). `result()` follows.
   */
  retry?: {
    initialInterval?: Duration;
    backoffCoefficient?: number;
    maximumInterval?: Duration;
    maximumAttempts?: number;
    nonRetryableErrorTypes?: string[];
    jitter?: number;
  };
}

function toRetryPolicy(retry: NonNullable<WorkflowStartOptions['retry']>): RetryPolicy {
  return {
    ...(retry.initialInterval !== undefined ? { initialIntervalMs: optionalMs(retry.initialInterval) } : {}),
    ...(retry.backoffCoefficient !== undefined ? { backoffCoefficient: retry.backoffCoefficient } : {}),
    ...(retry.maximumInterval !== undefined ? { maximumIntervalMs: optionalMs(retry.maximumInterval) } : {}),
    ...(retry.maximumAttempts !== undefined ? { maximumAttempts: retry.maximumAttempts } : {}),
    ...(retry.nonRetryableErrorTypes ? { nonRetryableErrorTypes: retry.nonRetryableErrorTypes } : {}),
    ...(retry.jitter !== undefined ? { jitter: retry.jitter } : {}),
  };
}

/** The start request for `workflow` with `options`; a request id is generated if none is given. */
function startRequest<W extends AnyWorkflow>(
  workflow: W | string,
  options: WorkflowStartOptions<ArgsOf<W>>,
): StartWorkflowRequest {
  const workflowType = typeof workflow === 'string' ? workflow : workflow.name;
  if (!workflowType) throw new TypeError('start needs a named workflow function or a workflow name');
  return {
    workflowId: options.id,
    workflowType,
    taskQueue: options.taskQueue,
    args: toPayloads(options.args ?? []),
    requestId: options.requestId ?? randomUUID(),
    ...(options.idReusePolicy ? { idReusePolicy: options.idReusePolicy } : {}),
    ...(options.executionTimeout !== undefined ? { executionTimeoutMs: optionalMs(options.executionTimeout) } : {}),
    ...(options.runTimeout !== undefined ? { runTimeoutMs: optionalMs(options.runTimeout) } : {}),
    ...(options.workflowTaskTimeout !== undefined
      ? { workflowTaskTimeoutMs: optionalMs(options.workflowTaskTimeout) }
      : {}),
    ...(options.retry ? { retryPolicy: toRetryPolicy(options.retry) } : {}),
  };
}

/** Start, find and list workflows. */
export class WorkflowClient {
  constructor(
    private readonly api: TidewayApi,
    private readonly namespace: string,
  ) {}

  /**
   * Starts a workflow: by function (its name is the workflow type) or by
   * name. Network failures are retried with the same request id, so a start
   * the server already applied is not applied twice.
   */
  async start<W extends AnyWorkflow>(
    workflow: W | string,
    options: WorkflowStartOptions<ArgsOf<W>>,
  ): Promise<WorkflowHandle<ResultOf<W>>> {
    const started = await this.sendStart(startRequest(workflow, options));
    return new WorkflowHandle(this.api, this.namespace, started.workflowId, started.runId);
  }

  /**
   * Starts a workflow and waits for its result: one request that starts the
   * run and answers when it closes (start-and-wait), then result waits only
   * if it runs longer than one wait. Throws `WorkflowFailedError` as
   * `result()` does, and `WorkflowAlreadyStarted` errors as `start` does.
   */
  async execute<W extends AnyWorkflow>(
    workflow: W | string,
    options: WorkflowStartOptions<ArgsOf<W>>,
  ): Promise<ResultOf<W>> {
    const started = await this.sendStart({ ...startRequest(workflow, options), waitForResultMs: RESULT_POLL_MS });
    return awaitWorkflowResult(this.api, this.namespace, started.workflowId, started.runId, started.outcome);
  }

  /** Sends a start, again (same request id) while the server is unreachable, up to three times. */
  private async sendStart(request: StartWorkflowRequest): Promise<StartWorkflowResponse> {
    for (let attempt = 1; ; attempt++) {
      try {
        return await this.api.startWorkflow(this.namespace, request);
      } catch (error) {
        if (!(error instanceof TidewayApiError) || error.code !== 'Unavailable' || attempt >= 3) throw error;
        await new Promise((resolve) => setTimeout(resolve, 200 * attempt));
      }
    }
  }

  /**
   * Sends a signal to the running workflow of `options.id`, starting it first
   * if none is running — atomically, so the signal cannot be lost in between.
   */
  async signalWithStart<W extends AnyWorkflow, SA extends unknown[]>(
    workflow: W | string,
    options: WorkflowStartOptions<ArgsOf<W>> & {
      signal: { name: string; __args?: SA } | string;
      signalArgs?: SA;
    },
  ): Promise<WorkflowHandle<ResultOf<W>>> {
    const workflowType = typeof workflow === 'string' ? workflow : workflow.name;
    const started = await this.api.signalWithStart(this.namespace, {
      workflowId: options.id,
      workflowType,
      taskQueue: options.taskQueue,
      args: toPayloads(options.args ?? []),
      signalName: typeof options.signal === 'string' ? options.signal : options.signal.name,
      signalArgs: toPayloads(options.signalArgs ?? []),
      ...(options.idReusePolicy ? { idReusePolicy: options.idReusePolicy } : {}),
    });
    return new WorkflowHandle(this.api, this.namespace, started.workflowId, started.runId);
  }

  /** A handle on an existing workflow: its latest run, or the given run. */
  getHandle<R = unknown>(workflowId: string, runId?: string): WorkflowHandle<R> {
    return new WorkflowHandle<R>(this.api, this.namespace, workflowId, runId);
  }

  /**
   * Runs newest first, optionally filtered; iterates through every page.
   * `workflowTaskFailing: true` lists the poison workflows: runs whose
   * workflow task keeps failing, each with its `workflowTaskFailure`.
   */
  async *list(
    filter: {
      status?: WorkflowStatus;
      workflowType?: string;
      workflowId?: string;
      workflowTaskFailing?: boolean;
      pageSize?: number;
    } = {},
  ): AsyncGenerator<WorkflowSummary> {
    let nextPageToken: string | undefined;
    do {
      const query: ListWorkflowsQuery = { ...filter, ...(nextPageToken ? { nextPageToken } : {}) };
      const page = await this.api.listWorkflows(this.namespace, query);
      yield* page.executions;
      nextPageToken = page.nextPageToken;
    } while (nextPageToken);
  }

  /**
   * Terminates, cancels or resets every run `filter` matches (terminate and
   * cancel: running runs; reset: the latest run of each workflow id, to its
   * last completed workflow task unless `resetTo` says first). With
   * `dryRun: true` nothing changes: the response says how many runs, and
   * which, would be affected.
   *
   * ```ts
   * const preview = await client.workflow.bulk('terminate', { workflowType: 'importFeed' }, { dryRun: true });
   * console.log(`${preview.matched} runs would be terminated`);
   * ```
   */
  bulk(
    operation: BulkOperationKind,
    filter: BulkFilter,
    options: {
      reason?: string;
      dryRun?: boolean;
      resetTo?: ResetTo;
      reapplySignals?: boolean;
      maxRuns?: number;
      listLimit?: number;
    } = {},
  ): Promise<BulkOperationResponse> {
    return this.api.bulkWorkflowOperation(this.namespace, { operation, filter, ...options });
  }
}

/** The entry point for applications: start workflows and talk to them. */
export class Client {
  readonly workflow: WorkflowClient;
  /** Complete, fail or heartbeat activities that complete asynchronously, by task token. */
  readonly activities: ActivityCompletionClient;

  private constructor(
    readonly connection: Connection,
    readonly namespace: string,
    identity: string,
  ) {
    this.workflow = new WorkflowClient(connection.api, namespace);
    this.activities = new ActivityCompletionClient(connection.api, namespace, identity);
  }

  /**
   * Connects to a Tideway server (address from options, TIDEWAY_ADDRESS, or
   * http://127.0.0.1:7233) and checks it speaks a compatible protocol.
   */
  static async connect(options: ClientOptions = {}): Promise<Client> {
    const connection = options.connection ?? (await connectHttp(options, 'client'));
    return new Client(
      connection,
      options.namespace ?? process.env.TIDEWAY_NAMESPACE ?? 'default',
      options.identity ?? `client-${process.pid}@${hostname()}`,
    );
  }
}
