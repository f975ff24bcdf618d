import { contextSlot } from '../protocol/context-slots.js';
import { CancelledFailure, type Duration, toMs } from '../protocol/index.js';
import { currentWorkflow } from './context.js';

/** The scope workflow code is running in, tracked through async calls like the workflow itself. */
export const scopeStorage = contextSlot<CancellationScope>('scope');

/**
 * A region of workflow code that can be cancelled as a unit. Cancelling a
 * scope cancels the timers, activities and conditions started in it and in
 * its cancellable child scopes: each awaiting call rejects with
 * `CancelledFailure` (activities with an `ActivityFailure` whose cause is
 * one), and started activities are told at their next heartbeat. A
 * non-cancellable scope shields its work from its parents' cancellation.
 * Cancelling the workflow (`handle.cancel()`) cancels the root scope.
 */
export class CancellationScope {
  readonly cancellable: boolean;
  readonly parent: CancellationScope | undefined;
  private reason: CancelledFailure | undefined;
  private readonly listeners = new Set<(failure: CancelledFailure) => void>();

  /** A new scope under `parent` (default: the current scope); cancellable unless said otherwise. */
  constructor(options: { cancellable?: boolean; parent?: CancellationScope | null } = {}) {
    this.cancellable = options.cancellable ?? true;
    this.parent = options.parent === null ? undefined : (options.parent ?? CancellationScope.current());
    if (this.cancellable && this.parent) this.parent.onCancel((failure) => this.cancel(failure.message));
  }

  /** True once this scope (or, for a cancellable one, an ancestor) was cancelled. */
  get cancelled(): boolean {
    return this.reason !== undefined;
  }

  /** The failure work in this scope rejects with, once cancelled. */
  get failure(): CancelledFailure | undefined {
    return this.reason;
  }

  cancel(reason = 'cancelled'): void {
    if (this.reason) return;
    this.reason = new CancelledFailure(reason);
    const listeners = [...this.listeners];
    this.listeners.clear();
    for (const listener of listeners) listener(this.reason);
  }

  /** Calls `listener` when the scope is cancelled (at once if it already is); returns a remover. */
  onCancel(listener: (failure: CancelledFailure) => void): () => void {
    if (this.reason) {
      listener(this.reason);
      return () => {};
    }
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  /** Runs `fn` inside this scope. */
  run<T>(fn: () => Promise<T>): Promise<T> {
    return scopeStorage.run(this, fn);
  }

  /** The scope the calling workflow code runs in. */
  static current(): CancellationScope {
    return scopeStorage.getStore() ?? currentWorkflow('CancellationScope.current').rootScope;
  }

  /** Runs `fn` in a new cancellable scope (cancelled with its parent). */
  static cancellable<T>(fn: () => Promise<T>): Promise<T> {
    return new CancellationScope({ cancellable: true }).run(fn);
  }

  /** Runs `fn` shielded from cancellation of the scopes around it (e.g. for clean-up after a cancel). */
  static nonCancellable<T>(fn: () => Promise<T>): Promise<T> {
    return new CancellationScope({ cancellable: false }).run(fn);
  }

  /** Runs `fn` in a cancellable scope that is cancelled if it has not finished after `timeout`. */
  static async withTimeout<T>(timeout: Duration, fn: () => Promise<T>): Promise<T> {
    const instance = currentWorkflow('CancellationScope.withTimeout');
    const scope = new CancellationScope({ cancellable: true });
    // The deadline timer lives in the parent scope, so finishing early can cancel it.
    const timer = instance.newTimer(toMs(timeout));
    void timer.fired.then(() => scope.cancel('timed out'));
    try {
      return await scope.run(fn);
    } finally {
      instance.cancelTimer(timer.timerId);
    }
  }
}
