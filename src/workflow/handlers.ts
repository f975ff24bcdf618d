/**
 * The signal and query handlers a workflow registered, and the signals that
 * arrived before their handler did. Signals run through `run` (in the
 * workflow's context, failures failing the run); queries answer at once.
 */
type Handler = (...args: unknown[]) => unknown;

export class HandlerRegistry {
  private readonly signals = new Map<string, Handler>();
  private readonly queries = new Map<string, Handler>();
  private readonly updates = new Map<string, { handler: Handler; validator?: Handler | undefined }>();
  /** Signals that arrived before their handler was set, in arrival order. */
  private buffered: { name: string; args: unknown[] }[] = [];

  constructor(private readonly run: (fn: () => unknown) => void) {}

  setSignal(name: string, handler: Handler | undefined): void {
    if (!handler) {
      this.signals.delete(name);
      return;
    }
    this.signals.set(name, handler);
    const waiting = this.buffered.filter((s) => s.name === name);
    if (waiting.length === 0) return;
    this.buffered = this.buffered.filter((s) => s.name !== name);
    for (const signal of waiting) this.run(() => handler(...signal.args));
  }

  dispatchSignal(name: string, args: unknown[]): void {
    const handler = this.signals.get(name);
    if (handler) this.run(() => handler(...args));
    else this.buffered.push({ name, args });
  }

  /** Names of signals received that no handler has taken yet. */
  get pendingSignalNames(): string[] {
    return this.buffered.map((s) => s.name);
  }

  setQuery(name: string, handler: Handler | undefined): void {
    if (handler) this.queries.set(name, handler);
    else this.queries.delete(name);
  }

  setUpdate(name: string, handler: Handler | undefined, validator?: Handler): void {
    if (handler) this.updates.set(name, { handler, validator });
    else this.updates.delete(name);
  }

  getUpdate(name: string): { handler: Handler; validator?: Handler | undefined } | undefined {
    return this.updates.get(name);
  }

  /** Names of the updates the workflow handles, for error messages. */
  get updateNames(): string[] {
    return [...this.updates.keys()].sort();
  }

  /** Calls a query handler; it must answer synchronously and must not change state. */
  answerQuery(name: string, args: unknown[], call: (fn: () => unknown) => unknown): unknown {
    const handler = this.queries.get(name);
    if (!handler) {
      const known = [...this.queries.keys()].sort();
      throw new Error(
        `workflow has no handler for query "${name}"; it handles: ${known.length ? known.join(', ') : '(no queries)'}`,
      );
    }
    const value = call(() => handler(...args));
    if (value && typeof (value as PromiseLike<unknown>).then === 'function') {
      throw new Error(`query handler "${name}" returned a promise; query handlers must answer synchronously`);
    }
    return value;
  }
}
