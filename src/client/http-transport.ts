import type { Agent } from 'node:http';
import {
  API_ROUTES,
  type ErrorBody,
  type ErrorCode,
  fillPath,
  type StartOutcome,
  StartOutcomeSchema,
  TASK_EVENT_STREAM_PATH,
  type TaskEvent,
  type TidewayApi,
  TidewayApiError,
  takesStartBatches,
  takesWorkerReports,
  type WorkerReportKind,
} from '../protocol/index.js';
import { type HttpReply, httpRequest, keepAliveAgent } from './http-request.js';
import { ReportBatcher } from './report-batcher.js';
import { readTaskEventStream } from './sse.js';
import { StartBatcher } from './start-batcher.js';

/** Where a Tideway server listens and how to authenticate to it. */
export interface HttpTransportOptions {
  /** e.g. 'http://127.0.0.1:7233' or '127.0.0.1:7233'. */
  address: string;
  token?: string | undefined;
}

/** Default server address; a bare host:port gets http://. */
export const DEFAULT_ADDRESS = 'http://127.0.0.1:7233';

export function normalizeAddress(address: string): string {
  const withScheme = /^https?:\/\//.test(address) ? address : `http://${address}`;
  return withScheme.replace(/\/+$/, '');
}

type Route = keyof typeof API_ROUTES;

/** What an error answer without our error body means, by its status. */
const BARE_STATUS_CODES: Partial<Record<number, ErrorCode>> = {
  401: 'Unauthorized',
  403: 'PermissionDenied',
  404: 'NotFound',
  // A gateway that does not take this method on this path: as good as no route.
  405: 'NotFound',
  501: 'NotFound',
  413: 'PayloadTooLarge',
};

/** The Tideway API over HTTP/JSON: the same operations and errors as in process. */
export class HttpTransport implements TidewayApi {
  readonly address: string;
  private readonly headers: Record<string, string>;

  private readonly agent: Agent;
  /**
   * Reports made together share requests (see report-batcher.ts), once `clusterInfo` (which connecting
   * asks first) said the server takes them; until then, and with an older server, each goes alone.
   */
  private reports: ReportBatcher | undefined;
  /** Starts made together share requests (see start-batcher.ts), once `clusterInfo` said the server takes them. */
  private starts: StartBatcher | undefined;

  constructor(options: HttpTransportOptions) {
    this.address = normalizeAddress(options.address);
    this.agent = keepAliveAgent(new URL(this.address));
    this.headers = { 'content-type': 'application/json' };
    if (options.token) this.headers.authorization = `Bearer ${options.token}`;
  }

  private async call<T>(
    route: Route,
    args: {
      path?: Record<string, string>;
      query?: Record<string, unknown>;
      body?: unknown;
      /** The body already as JSON. */
      json?: string;
      signal?: AbortSignal | undefined;
      /** Reads a successful answer as newline-delimited JSON, a line at a time (the call then resolves to undefined). */
      onLine?: (line: string) => void;
    } = {},
  ): Promise<T> {
    const { method, path } = API_ROUTES[route];
    const url = new URL(this.address + fillPath(path, args.path ?? {}));
    for (const [key, value] of Object.entries(args.query ?? {})) {
      if (value !== undefined && value !== null) url.searchParams.set(key, String(value));
    }
    let reply: HttpReply;
    try {
      reply = await httpRequest(url, this.agent, {
        method: method.toUpperCase(),
        headers: this.headers,
        body: args.json ?? (args.body !== undefined ? JSON.stringify(args.body) : undefined),
        signal: args.signal,
        onLine: args.onLine,
      });
    } catch (error) {
      if (args.signal?.aborted) throw error;
      throw new TidewayApiError(
        'Unavailable',
        `cannot reach the Tideway server at ${this.address} (${(error as Error).cause ?? (error as Error).message}); ` +
          'is it running? Start one with `npx tideway server`, or set TIDEWAY_ADDRESS',
      );
    }
    const { status, text } = reply;
    let body: unknown;
    try {
      body = text ? JSON.parse(text) : undefined;
    } catch {
      body = undefined;
    }
    if (status < 200 || status >= 300) {
      if (body && typeof body === 'object' && 'error' in body) {
        throw TidewayApiError.fromBody(body as ErrorBody, status);
      }
      // Not one of ours (a proxy's page, say): the status is all there is to go on.
      throw new TidewayApiError(
        status >= 500 ? 'Unavailable' : (BARE_STATUS_CODES[status] ?? 'InvalidArgument'),
        `${method.toUpperCase()} ${url.pathname} answered ${status}: ${text.slice(0, 200)}`,
      );
    }
    return body as T;
  }

  clusterInfo: TidewayApi['clusterInfo'] = async () => {
    const info = await this.call<Awaited<ReturnType<TidewayApi['clusterInfo']>>>('clusterInfo');
    if (
      !this.reports &&
      typeof info?.workerProtocolVersion === 'string' &&
      takesWorkerReports(info.workerProtocolVersion)
    ) {
      this.reports = new ReportBatcher(
        {
          one: (namespace, kind, json) => this.call(kind, { path: { namespace }, json }),
          many: (namespace, json) => this.call('submitWorkerReports', { path: { namespace }, json }),
        },
        // A shared request stays well under the server's body limit (four payloads' worth).
        { maxBatchBytes: Math.min(1024 * 1024, info.maxPayloadBytes ?? 0) },
      );
    }
    if (!this.starts && typeof info?.controlPlaneVersion === 'string' && takesStartBatches(info.controlPlaneVersion)) {
      this.starts = new StartBatcher(
        {
          one: (namespace, body) => this.call('startWorkflow', { path: { namespace }, body }),
          many: (namespace, json, onOutcome) => this.sendStarts(namespace, json, onOutcome),
        },
        { maxBatchBytes: Math.min(1024 * 1024, info.maxPayloadBytes ?? 0) },
      );
    }
    return info;
  };
  startWorkflow: TidewayApi['startWorkflow'] = (namespace, body) =>
    this.starts ? this.starts.submit(namespace, body) : this.call('startWorkflow', { path: { namespace }, body });
  startWorkflows: TidewayApi['startWorkflows'] = (namespace, body, onOutcome) =>
    this.sendStarts(namespace, JSON.stringify(body), onOutcome);

  /**
   * A `startWorkflows` request. A line that is not an outcome (a proxy's, a server's of another kind) is
   * skipped: its start is then left unanswered, and sent again.
   */
  private async sendStarts(namespace: string, json: string, onOutcome: (outcome: StartOutcome) => void) {
    await this.call('startWorkflows', {
      path: { namespace },
      json,
      onLine: (line) => {
        let parsed: unknown;
        try {
          parsed = JSON.parse(line);
        } catch {
          return;
        }
        const outcome = StartOutcomeSchema.safeParse(parsed);
        if (outcome.success) onOutcome(outcome.data);
      },
    });
  }
  listWorkflows: TidewayApi['listWorkflows'] = (namespace, query) =>
    this.call('listWorkflows', { path: { namespace }, query });
  describeWorkflow: TidewayApi['describeWorkflow'] = (namespace, { workflowId, runId }) =>
    this.call('describeWorkflow', { path: { namespace, workflowId }, query: { runId } });
  getWorkflowResult: TidewayApi['getWorkflowResult'] = (namespace, { workflowId, runId, waitMs }) =>
    this.call('getWorkflowResult', { path: { namespace, workflowId }, query: { runId, waitMs } });
  getWorkflowHistory: TidewayApi['getWorkflowHistory'] = (namespace, { workflowId, ...query }) =>
    this.call('getWorkflowHistory', { path: { namespace, workflowId }, query });
  signalWorkflow: TidewayApi['signalWorkflow'] = async (namespace, { workflowId, ...body }) => {
    await this.call('signalWorkflow', { path: { namespace, workflowId }, body });
  };
  signalWithStart: TidewayApi['signalWithStart'] = (namespace, body) =>
    this.call('signalWithStart', { path: { namespace }, body });
  cancelWorkflow: TidewayApi['cancelWorkflow'] = async (namespace, { workflowId, ...body }) => {
    await this.call('cancelWorkflow', { path: { namespace, workflowId }, body });
  };
  terminateWorkflow: TidewayApi['terminateWorkflow'] = async (namespace, { workflowId, ...body }) => {
    await this.call('terminateWorkflow', { path: { namespace, workflowId }, body });
  };
  resetWorkflow: TidewayApi['resetWorkflow'] = (namespace, { workflowId, ...body }) =>
    this.call('resetWorkflow', { path: { namespace, workflowId }, body });
  bulkWorkflowOperation: TidewayApi['bulkWorkflowOperation'] = (namespace, body) =>
    this.call('bulkWorkflowOperation', { path: { namespace }, body });
  queryWorkflow: TidewayApi['queryWorkflow'] = (namespace, { workflowId, ...body }) =>
    this.call('queryWorkflow', { path: { namespace, workflowId }, body });
  updateWorkflow: TidewayApi['updateWorkflow'] = (namespace, { workflowId, ...body }) =>
    this.call('updateWorkflow', { path: { namespace, workflowId }, body });
  respondQueryTask: TidewayApi['respondQueryTask'] = async (namespace, body) => {
    await this.call('respondQueryTask', { path: { namespace }, body });
  };
  pollWorkflowTask: TidewayApi['pollWorkflowTask'] = (namespace, body, signal) =>
    this.call('pollWorkflowTask', { path: { namespace }, body, signal });
  completeWorkflowTask: TidewayApi['completeWorkflowTask'] = (namespace, body) =>
    this.report('completeWorkflowTask', namespace, body);
  failWorkflowTask: TidewayApi['failWorkflowTask'] = async (namespace, body) => {
    await this.report('failWorkflowTask', namespace, body);
  };
  pollActivityTask: TidewayApi['pollActivityTask'] = (namespace, body, signal) =>
    this.call('pollActivityTask', { path: { namespace }, body, signal });
  completeActivityTask: TidewayApi['completeActivityTask'] = (namespace, body) =>
    this.report('completeActivityTask', namespace, body);
  failActivityTask: TidewayApi['failActivityTask'] = async (namespace, body) => {
    await this.report('failActivityTask', namespace, body);
  };
  heartbeatActivityTask: TidewayApi['heartbeatActivityTask'] = (namespace, body) =>
    this.call('heartbeatActivityTask', { path: { namespace }, body });
  recordActivityEvents: TidewayApi['recordActivityEvents'] = (namespace, body) =>
    this.call('recordActivityEvents', { path: { namespace }, body });
  fireTimer: TidewayApi['fireTimer'] = (namespace, body) => this.report('fireTimer', namespace, body);
  submitWorkerReports: TidewayApi['submitWorkerReports'] = (namespace, body) =>
    this.call('submitWorkerReports', { path: { namespace }, body });

  private async report<T>(kind: WorkerReportKind, namespace: string, body: unknown): Promise<T> {
    if (!this.reports) return this.call(kind, { path: { namespace }, body });
    return (await this.reports.submit(namespace, kind, body)) as T;
  }
  listTaskEvents: TidewayApi['listTaskEvents'] = (namespace, { workflowId, ...query }, signal) =>
    this.call('listTaskEvents', { path: { namespace, workflowId }, query, signal });

  /**
   * One Server-Sent Events connection to a run's task events, from `after`
   * (sent as Last-Event-ID). Ends when the run's stream is done; throws
   * when the connection breaks, so the caller can resume from the last seq.
   */
  streamTaskEvents(
    namespace: string,
    request: { workflowId: string; runId?: string | undefined; after?: number | undefined },
    signal?: AbortSignal,
  ): AsyncGenerator<TaskEvent> {
    const url = new URL(this.address + fillPath(TASK_EVENT_STREAM_PATH, { namespace, workflowId: request.workflowId }));
    if (request.runId) url.searchParams.set('runId', request.runId);
    const headers: Record<string, string> = { ...this.headers, accept: 'text/event-stream' };
    if (request.after) headers['last-event-id'] = String(request.after);
    return readTaskEventStream(url, headers, signal);
  }
}
