/**
 * A counting semaphore for a worker's task slots: a poller only asks for a
 * task when it has room to run one, and completions reserve slots for the
 * tasks their answers may hand back.
 */
export class Slots {
  private free: number;
  private waiters: (() => void)[] = [];
  /** Slots handed to waits that were cut off with none free: the next releases pay them back. */
  private owed = 0;

  constructor(private readonly capacity: number) {
    this.free = capacity;
  }

  /** Slots held now. */
  get taken(): number {
    return this.capacity - this.free + this.owed;
  }

  /** Slots free now. */
  get available(): number {
    return this.free;
  }

  /** Takes up to `n` free slots without waiting; returns how many it took. */
  tryAcquire(n: number): number {
    const taken = Math.max(0, Math.min(n, this.free));
    this.free -= taken;
    return taken;
  }

  /**
   * Waits for a slot; `first` goes ahead of those already waiting. Resolves
   * holding a slot either way: once aborted, the caller gives it back.
   */
  async acquire(signal: AbortSignal, options: { first?: boolean } = {}): Promise<void> {
    if (this.free > 0) {
      this.free--;
      return;
    }
    await new Promise<void>((resolve) => {
      const done = () => {
        signal.removeEventListener('abort', onAbort);
        resolve();
      };
      const onAbort = () => {
        this.waiters = this.waiters.filter((w) => w !== done);
        // The caller gives back a slot it never got: with none free, that release must not reach a waiter.
        if (this.free > 0) this.free--;
        else this.owed++;
        resolve();
      };
      if (options.first) this.waiters.unshift(done);
      else this.waiters.push(done);
      signal.addEventListener('abort', onAbort, { once: true });
    });
  }

  /** Gives a slot back: to the first waiter, if any. */
  release(): void {
    if (this.owed > 0) {
      this.owed--;
      return;
    }
    const next = this.waiters.shift();
    if (next) next();
    else this.free++;
  }
}
