import { deleteTaskEventsBefore } from '../store/index.js';
import type { EngineContext } from './context.js';

const BATCH = 5000;

/**
 * Deletes task events older than the retention period, a batch at a time,
 * so a large backlog never becomes one long transaction. Every replica may
 * run it; deletes of the same rows simply find them gone.
 */
export class TaskEventRetention {
  private timer: NodeJS.Timeout | undefined;
  private running: Promise<unknown> | undefined;

  constructor(
    private readonly ctx: EngineContext,
    private readonly retentionMs: number,
    private readonly onError: (error: unknown) => void,
  ) {}

  start(): void {
    const every = Math.min(60_000, Math.max(1000, Math.floor(this.retentionMs / 10)));
    this.timer = setInterval(() => {
      if (!this.running) this.running = this.sweep().finally(() => (this.running = undefined));
    }, every);
    this.timer.unref();
  }

  /** Deletes everything past retention; returns how many events went. */
  async sweep(): Promise<number> {
    const before = this.ctx.clock.now() - this.retentionMs;
    let total = 0;
    try {
      for (;;) {
        const deleted = await deleteTaskEventsBefore(this.ctx.db, before, BATCH);
        total += deleted;
        if (deleted < BATCH || this.ctx.closing.aborted) return total;
      }
    } catch (error) {
      if (!this.ctx.closing.aborted) this.onError(error);
      return total;
    }
  }

  async stop(): Promise<void> {
    clearInterval(this.timer);
    await this.running;
  }
}
