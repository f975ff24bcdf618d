/**
 * Work that must go one piece at a time per key (a run), while different
 * keys go at once. Shared by the engine (completions of one run) and the
 * worker (workflow tasks of one run); it lives here because every layer may
 * import the protocol.
 */
export class Turns {
  /** Per key, the end of the last piece of work queued (removed when nothing waits). */
  private readonly tails = new Map<string, Promise<void>>();

  /** Runs `fn` once the work queued before it under `key` has finished (whether it succeeded or not). */
  async run<T>(key: string, fn: () => Promise<T>): Promise<T> {
    const before = this.tails.get(key);
    let release = () => {};
    const done = new Promise<void>((resolve) => {
      release = resolve;
    });
    const mine = before ? before.then(() => done) : done;
    this.tails.set(key, mine);
    try {
      if (before) await before;
      return await fn();
    } finally {
      release();
      if (this.tails.get(key) === mine) this.tails.delete(key);
    }
  }

  /** Keys with work queued or running (tests). */
  get size(): number {
    return this.tails.size;
  }
}
