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
        message: `[tideway] ${this.droppedBytes} bytes of output were dropped: over the attempt's output rate limit\n`,
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

  /** Drops the oldest output (never milestones) to keep the buffer bounded while the server is away. */
  private shed(): void {
    const index = this.queue.findIndex((e) => e.kind === 'stdout' || e.kind === 'stderr');
    if (index < 0) return;
    const [dropped] = this.queue.splice(index, 1);
    this.droppedBytes += Buffer.byteLength(dropped?.message ?? '');
  }

  private flushSoon(delay: number): void {
    if (this.sending) return; // The send in flight schedules the next one.
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

  private async send(): Promise<void> {
    const events = this.queue.splice(0, FLUSH_AT_EVENTS);
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
      if (error instanceof TidewayApiError && error.code === 'Unavailable' && !this.stopped) {
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

  /** Sends what is queued (before the attempt reports its outcome, so watchers see output first). */
  async stop(): Promise<void> {
    clearTimeout(this.timer);
    this.timer = undefined;
    await this.sending;
    // One more try for what is left; if the server is still away, the outcome report will wait for it anyway.
    this.stopped = true;
    while (this.queue.length > 0) {
      const before = this.queue.length;
      await this.send();
      if (this.queue.length >= before) break;
    }
  }
}
