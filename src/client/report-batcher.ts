import {
  MAX_REPORTS_PER_REQUEST,
  TidewayApiError,
  type WorkerReportKind,
  type WorkerReportsResponse,
} from '../protocol/index.js';

/*
 * A worker's reports (completions, failures, timer reports) over HTTP,
 * gathered into shared requests when they are made together. A report goes
 * out at once, alone, while fewer than `maxInFlight` report requests are
 * out; beyond that it waits for one of them to come back and then leaves
 * with every report that queued meanwhile, in one `submitWorkerReports`
 * request. So a worker doing one thing at a time sends exactly what it
 * sent before, and a burst (a thousand workflows finishing their steps, a
 * hundred timers falling due at once) sends a few requests, not one per
 * report: each exchange costs the worker and the server far more CPU than
 * the report's own work, most of all on a busy machine.
 */

/** How reports reach the server. */
export interface ReportSender {
  /** Sends one report to its own operation (`json` is its request body). */
  one(namespace: string, kind: WorkerReportKind, json: string): Promise<unknown>;
  /** Sends a `submitWorkerReports` request (`json` is its whole body). */
  many(namespace: string, json: string): Promise<WorkerReportsResponse>;
}

export interface ReportBatcherOptions {
  /** Report requests out at once per namespace before reports queue (default 4). */
  maxInFlight?: number;
  /** Largest body of a shared request, in bytes of JSON; a report over half of it always goes alone. */
  maxBatchBytes: number;
}

interface Pending {
  kind: WorkerReportKind;
  json: string;
  resolve(value: unknown): void;
  reject(error: unknown): void;
}

/** The reports of one namespace: how many requests are out, and what waits for one to come back. */
interface Lane {
  inFlight: number;
  queue: Pending[];
  /** A pump is scheduled for the end of this tick (reports made in the same tick leave together). */
  scheduled: boolean;
}

export class ReportBatcher {
  private readonly lanes = new Map<string, Lane>();
  private readonly maxInFlight: number;
  private readonly maxBatchBytes: number;

  constructor(
    private readonly sender: ReportSender,
    options: ReportBatcherOptions,
  ) {
    this.maxInFlight = options.maxInFlight ?? 4;
    this.maxBatchBytes = options.maxBatchBytes;
  }

  /** Sends a report; settles with its operation's answer or error, as if it had been sent alone. */
  submit(namespace: string, kind: WorkerReportKind, request: unknown): Promise<unknown> {
    const json = JSON.stringify(request);
    if (json.length > this.maxBatchBytes / 2) return this.sender.one(namespace, kind, json);
    return new Promise((resolve, reject) => {
      const lane = this.lane(namespace);
      lane.queue.push({ kind, json, resolve, reject });
      if (!lane.scheduled) {
        lane.scheduled = true;
        queueMicrotask(() => {
          lane.scheduled = false;
          this.pump(namespace, lane);
        });
      }
    });
  }

  private lane(namespace: string): Lane {
    let lane = this.lanes.get(namespace);
    if (!lane) {
      lane = { inFlight: 0, queue: [], scheduled: false };
      this.lanes.set(namespace, lane);
    }
    return lane;
  }

  /** Sends what is queued, while requests may go out. */
  private pump(namespace: string, lane: Lane): void {
    while (lane.inFlight < this.maxInFlight && lane.queue.length > 0) {
      const batch = this.take(lane);
      lane.inFlight++;
      const sent = batch.length === 1 ? this.sendAlone(namespace, batch[0]!) : this.sendTogether(namespace, batch);
      void sent.finally(() => {
        lane.inFlight--;
        this.pump(namespace, lane);
      });
    }
  }

  /** The next request's reports: the oldest first, up to the request's count and size limits. */
  private take(lane: Lane): Pending[] {
    let bytes = 16;
    let count = 0;
    for (const pending of lane.queue) {
      const size = pending.json.length + pending.kind.length + 32;
      if (count >= MAX_REPORTS_PER_REQUEST || (count > 0 && bytes + size > this.maxBatchBytes)) break;
      bytes += size;
      count++;
    }
    return lane.queue.splice(0, count);
  }

  private sendAlone(namespace: string, pending: Pending): Promise<void> {
    return this.sender.one(namespace, pending.kind, pending.json).then(pending.resolve, pending.reject);
  }

  private async sendTogether(namespace: string, batch: Pending[]): Promise<void> {
    const body = `{"reports":[${batch.map((p) => `{"kind":"${p.kind}","request":${p.json}}`).join(',')}]}`;
    let answer: WorkerReportsResponse;
    try {
      answer = await this.sender.many(namespace, body);
    } catch (error) {
      // A body over the server's limit (set lower than this worker assumed), or a server that does not know
      // the route after all: each report can still go alone, and is sent exactly as it would have been.
      if (error instanceof TidewayApiError && (error.code === 'PayloadTooLarge' || error.code === 'NotFound')) {
        await Promise.all(batch.map((pending) => this.sendAlone(namespace, pending)));
        return;
      }
      for (const pending of batch) pending.reject(error);
      return;
    }
    const results = Array.isArray(answer?.results) ? answer.results : [];
    batch.forEach((pending, i) => {
      const outcome = results[i];
      if (outcome?.ok === true) pending.resolve(outcome.response);
      else if (outcome?.ok === false)
        pending.reject(TidewayApiError.fromBody({ error: outcome.error }, outcome.status));
      else
        pending.reject(
          new TidewayApiError('Internal', `the server answered ${results.length} of ${batch.length} reports`),
        );
    });
  }
}
