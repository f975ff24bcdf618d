import type { ActivityEvent } from '../activity/context.js';
import { CancelledFailure, type ReportedTaskEvent, type TidewayApi, TidewayApiError } from '../protocol/index.js';
import type { Logger } from './logger.js';

/** How long an event may wait to be batched with others before it is sent. */
const FLUSH_DELAY_MS = 200;
/** Send at once when this many events are waiting. */
const FLUSH_AT_EVENTS = 200;
/** Consecutive output chunks are merged up to this size, so a line-per-call loop is not a row per line. */
const MERGE_OUTPUT_BYTES = 16 * 1024;
/** While the server is unreachable, events wait in memory up to this many; then the oldest output goes. */
const MAX_BUFFERED_EVENTS = 5000;
/** One report carries at most this many bytes of messages and data, well under any request body limit. */
const MAX_REPORT_BYTES = 512 * 1024;
/** At the end of an attempt, how long to keep retrying an unreachable server before dropping what is left. */
const FINAL_SEND_RETRIES = 10;

/**
 * Batches an activity attempt's progress, milestones and output to the
 * server: one request per interval, consecutive output merged, only the
 * latest progress kept. When the server drops output over the attempt's
 * rate, output is dropped here until it reopens, then a one-line notice
 * says how much was lost. While the server is unreachable (a restart),
 * events are kept and resent in order. Events are for watchers: a send
 * that fails for another reason is logged and never fails the activity.
 */
export class ActivityEventSender {
  private queue: ReportedTaskEvent[] = [];
  private timer: NodeJS.Timeout | undefined;
  private sending: Promise<void> | undefined;
  private suppressedUntil = 0;
  private unreachableSince: number | undefined;
  private droppedBytes = 0;
  private stopped = false;
  /** Set when stop() begins: no new sends are scheduled; stop() drains the queue itself. */
  private draining = false;

  constructor(
    private readonly api: TidewayApi,
    private readonly namespace: string,
    private readonly taskToken: string,
    private readonly controller: AbortController,
    private readonly logger: Logger,
  ) {}

  enqueue(event: ActivityEvent): void {
    if (this.stopped) return;
    const isOutput = event.kind === 'stdout' || event.kind === 'stderr';
    if (isOutput && Date.now() < this.suppressedUntil) {
      this.droppedBytes += Buffer.byteLength(event.message);
      return;
    }
    if (isOutput && this.droppedBytes > 0) {
      this.push({
        kind: 'stderr',
        message: `[tideway] ${this.droppedBytes} bytes of output were dropped: over the activity's output rate limit\n`,
      });
      this.droppedBytes = 0;
    }
    if (event.kind === 'progress') {
      // Progress is a state, not a log: only the newest value matters.
      this.queue = this.queue.filter((e) => e.kind !== 'progress');
    }
    this.push(event);
  }

  private push(event: ActivityEvent | ReportedTaskEvent): void {
    const time = Date.now();
    const last = this.queue.at(-1);
    if (
      last &&
      (event.kind === 'stdout' || event.kind === 'stderr') &&
      last.kind === event.kind &&
      Buffer.byteLength(last.message ?? '') + Buffer.byteLength(event.message ?? '') <= MERGE_OUTPUT_BYTES
    ) {
      last.message = (last.message ?? '') + (event.message ?? '');
    } else {
      this.queue.push({ ...event, time });
    }
    if (this.queue.length > MAX_BUFFERED_EVENTS) this.shed();
    if (this.queue.length >= FLUSH_AT_EVENTS) this.flushSoon(0);
    else this.flushSoon(FLUSH_DELAY_MS);
  }

  /** Keeps the buffer bounded while the server is away: the oldest output goes first, then the oldest event. */
  private shed(): void {
    const output = this.queue.findIndex((e) => e.kind === 'stdout' || e.kind === 'stderr');
    const [dropped] = this.queue.splice(Math.max(output, 0), 1);
    if (dropped?.kind === 'stdout' || dropped?.kind === 'stderr')
      this.droppedBytes += Buffer.byteLength(dropped.message ?? '');
  }

  private flushSoon(delay: number): void {
    if (this.sending || this.draining) return; // The send in flight, or stop(), sends the rest.
    if (this.timer && delay > 0) return;
    clearTimeout(this.timer);
    this.timer = setTimeout(() => {
      this.timer = undefined;
      this.sending = this.send().finally(() => {
        this.sending = undefined;
        if (this.queue.length > 0) this.flushSoon(this.retryDelay());
      });
    }, delay);
  }

  /** Takes the next report off the queue: in order, at most FLUSH_AT_EVENTS events and about MAX_REPORT_BYTES. */
  private nextReport(): ReportedTaskEvent[] {
    let bytes = 0;
    let count = 0;
    while (count < this.queue.length && count < FLUSH_AT_EVENTS) {
      const event = this.queue[count] as ReportedTaskEvent;
      const size =
        64 +
        Buffer.byteLength(event.message ?? '') +
        (event.data === undefined ? 0 : JSON.stringify(event.data).length);
      if (count > 0 && bytes + size > MAX_REPORT_BYTES) break;
      bytes += size;
      count++;
    }
    return this.queue.splice(0, count);
  }

  private async send(): Promise<void> {
    const events = this.nextReport();
    if (events.length === 0) return;
    try {
      const response = await this.api.recordActivityEvents(this.namespace, { taskToken: this.taskToken, events });
      if (response.dropped > 0) {
        this.suppressedUntil = Date.now() + (response.retryAfterMs ?? 1000);
        this.droppedBytes += events
          .filter((e) => e.kind === 'stdout' || e.kind === 'stderr')
          .reduce((sum, e) => sum + Buffer.byteLength(e.message ?? ''), 0);
      }
      if (response.cancelRequested) {
        this.controller.abort(new CancelledFailure('activity cancellation requested by its workflow'));
      }
      this.unreachableSince = undefined;
    } catch (error) {
      if (error instanceof TidewayApiError && error.code === 'NotFound') {
        this.controller.abort(new CancelledFailure(error.message));
        return;
      }
      if (error instanceof TidewayApiError && error.code === 'Unavailable') {
        // The server is restarting or unreachable: keep the events, in order, and try again.
        this.queue.unshift(...events);
        this.unreachableSince ??= Date.now();
        return;
      }
      this.logger.warn(`could not send ${events.length} activity event(s); they are dropped`, {
        error: (error as Error).message,
      });
    }
  }

  /** Backs off while the server is unreachable: 200 ms, growing to 5 s. */
  private retryDelay(): number {
    if (this.unreachableSince === undefined) return FLUSH_DELAY_MS;
    return Math.min(5000, FLUSH_DELAY_MS + (Date.now() - this.unreachableSince) / 2);
  }

  /**
   * Sends what is queued, in order, before the attempt reports its outcome
   * (so watchers see output first). An unreachable server is retried for a
   * few seconds (a restart); then what is left is dropped and logged.
   */
  async stop(): Promise<void> {
    this.draining = true;
    clearTimeout(this.timer);
    this.timer = undefined;
    await this.sending;
    // The send that was in flight may have scheduled another before it saw `draining`.
    clearTimeout(this.timer);
    this.timer = undefined;
    this.stopped = true;
    let retries = 0;
    while (this.queue.length > 0) {
      const before = this.queue.length;
      await this.send();
      if (this.queue.length < before) continue;
      if (++retries > FINAL_SEND_RETRIES) {
        this.logger.warn(`could not send ${this.queue.length} activity event(s) before the attempt ended; dropped`);
        this.queue = [];
        return;
      }
      await new Promise((resolve) => setTimeout(resolve, 500));
    }
  }
}
