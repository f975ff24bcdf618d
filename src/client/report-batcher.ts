import {
  MAX_REPORTS_PER_REQUEST,
  TidewayApiError,
  type WorkerReportKind,
  type WorkerReportOutcome,
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
 * the report's own work, most of all on a busy machine. A queued report
 * never waits more than `maxQueueMs`: requests that hang (a half-open
 * connection, a slow lock) hold up no more than the reports they carry.
 *
 * Timer reports travel apart from the others (their own queue and requests
 * in flight): a server whose clock runs behind this worker's holds a
 * timer report until the timer is due by its own clock (up to 100 ms, see
 * fire-timer.ts), and a shared request is answered once all its reports
 * are. A completion or activity result never waits behind a held timer;
 * timer reports sent together fell due together, so they wait alike.
 */

/** How reports reach the server. */
export interface ReportSender {
  /** Sends one report to its own operation (`json` is its request body). */
  one(namespace: string, kind: WorkerReportKind, json: string): Promise<unknown>;
  /** Sends a `submitWorkerReports` request (`json` is its whole body). */
  many(namespace: string, json: string): Promise<WorkerReportsResponse>;
}

export interface ReportBatcherOptions {
  /** Report requests out at once per namespace, for timer reports and for the others each, before reports queue (default 4). */
  maxInFlight?: number;
  /** Longest a report queues before it leaves anyway, with whatever queued with it (default 50 ms). */
  maxQueueMs?: number;
  /** Largest body of a shared request, in bytes; a report over half of it always goes alone. */
  maxBatchBytes: number;
}

interface Pending {
  kind: WorkerReportKind;
  json: string;
  bytes: number;
  /** Goes in a request of its own (its shared request was refused). */
  alone: boolean;
  resolve(value: unknown): void;
  reject(error: unknown): void;
}

/** The reports of one namespace and group: how many requests are out, and what waits for one to come back. */
interface Lane {
  inFlight: number;
  queue: Pending[];
  /** A pump is scheduled for the end of this tick (reports made in the same tick leave together). */
  scheduled: boolean;
  /** Sends the queue regardless of the requests out, once its oldest report has waited `maxQueueMs`. */
  overdue: NodeJS.Timeout | undefined;
}

export class ReportBatcher {
  private readonly lanes = new Map<string, Lane>();
  private readonly maxInFlight: number;
  private readonly maxQueueMs: number;
  private readonly maxBatchBytes: number;
  /** The server refused the shared route as unknown: every report goes alone from then on. */
  private sharedRefused = false;

  constructor(
    private readonly sender: ReportSender,
    options: ReportBatcherOptions,
  ) {
    this.maxInFlight = options.maxInFlight ?? 4;
    this.maxQueueMs = options.maxQueueMs ?? 50;
    this.maxBatchBytes = options.maxBatchBytes;
  }

  /** Sends a report; settles with its operation's answer or error, as if it had been sent alone. */
  async submit(namespace: string, kind: WorkerReportKind, request: unknown): Promise<unknown> {
    // Throws here (a value JSON cannot carry) reject the returned promise, as a report sent alone does.
    const json = JSON.stringify(request);
    if (typeof json !== 'string') throw new TypeError(`a ${kind} report must be a JSON object`);
    const bytes = Buffer.byteLength(json);
    if (this.sharedRefused || bytes > this.maxBatchBytes / 2) return this.sender.one(namespace, kind, json);
    return new Promise((resolve, reject) => {
      const lane = this.lane(namespace, kind);
      lane.queue.push({ kind, json, bytes, alone: false, resolve, reject });
      if (!lane.scheduled) {
        lane.scheduled = true;
        queueMicrotask(() => {
          lane.scheduled = false;
          this.pump(namespace, lane);
        });
      }
    });
  }

  /** The lane of a namespace's timer reports, or of its other reports. */
  private lane(namespace: string, kind: WorkerReportKind): Lane {
    const key = `${kind === 'fireTimer' ? 'timers' : 'tasks'}\u0000${namespace}`;
    let lane = this.lanes.get(key);
    if (!lane) {
      lane = { inFlight: 0, queue: [], scheduled: false, overdue: undefined };
      this.lanes.set(key, lane);
    }
    return lane;
  }

  /** Sends what is queued while requests may go out (all of it when `force`), and watches what stays. */
  private pump(namespace: string, lane: Lane, force = false): void {
    while (lane.queue.length > 0 && (force || lane.inFlight < this.maxInFlight)) {
      const batch = this.take(lane);
      lane.inFlight++;
      const sent = batch.length === 1 ? this.sendAlone(namespace, batch[0]!) : this.sendTogether(namespace, batch);
      void sent.finally(() => {
        lane.inFlight--;
        this.pump(namespace, lane);
      });
    }
    if (lane.queue.length === 0) {
      clearTimeout(lane.overdue);
      lane.overdue = undefined;
    } else if (!lane.overdue) {
      lane.overdue = setTimeout(() => {
        lane.overdue = undefined;
        this.pump(namespace, lane, true);
      }, this.maxQueueMs);
      lane.overdue.unref();
    }
  }

  /** The next request's reports: the oldest first, up to the request's count and size limits. */
  private take(lane: Lane): Pending[] {
    if (lane.queue[0]!.alone || this.sharedRefused) return lane.queue.splice(0, 1);
    let bytes = 16;
    let count = 0;
    for (const pending of lane.queue) {
      const size = pending.bytes + pending.kind.length + 32;
      if (pending.alone || count >= MAX_REPORTS_PER_REQUEST || (count > 0 && bytes + size > this.maxBatchBytes)) break;
      bytes += size;
      count++;
    }
    return lane.queue.splice(0, count);
  }

  /** Never rejects: the report's own promise carries the outcome. */
  private sendAlone(namespace: string, pending: Pending): Promise<void> {
    return this.sender.one(namespace, pending.kind, pending.json).then(pending.resolve, pending.reject);
  }

  /** Never rejects: each report's own promise carries its outcome. */
  private async sendTogether(namespace: string, batch: Pending[]): Promise<void> {
    const body = `{"reports":[${batch.map((p) => `{"kind":"${p.kind}","request":${p.json}}`).join(',')}]}`;
    let answer: WorkerReportsResponse;
    try {
      answer = await this.sender.many(namespace, body);
    } catch (error) {
      // A body over a limit lower than this worker assumed (the server's, or a proxy's), or a server (or a
      // proxy) that does not know the route: each report can still go alone, exactly as it would have. They
      // go back to the front of the queue, each to leave in a request of its own as requests come back.
      if (error instanceof TidewayApiError && (error.code === 'PayloadTooLarge' || error.code === 'NotFound')) {
        if (error.code === 'NotFound') this.sharedRefused = true;
        for (const pending of batch) pending.alone = true;
        const lane = this.lane(namespace, batch[0]!.kind);
        lane.queue.unshift(...batch);
        return;
      }
      for (const pending of batch) pending.reject(error);
      return;
    }
    const results: unknown[] = Array.isArray(answer?.results) ? answer.results : [];
    batch.forEach((pending, i) => {
      const outcome = results[i] as WorkerReportOutcome | undefined;
      if (outcome?.ok === true) pending.resolve(outcome.response);
      else if (outcome?.ok === false && typeof outcome.error?.message === 'string') {
        pending.reject(TidewayApiError.fromBody({ error: outcome.error }, outcome.status));
      } else {
        pending.reject(
          new TidewayApiError(
            'Internal',
            `the server's answer to ${batch.length} reports had no outcome for report ${i}`,
          ),
        );
      }
    });
  }
}
