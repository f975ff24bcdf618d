import { type Duration, toMs } from '../protocol/index.js';
import { currentWorkflow } from './context.js';

/**
 * A named signal with typed arguments: define it once (in a module both the
 * workflow and its callers import), handle it in the workflow with
 * `setHandler`, send it with `handle.signal(definition, ...args)`.
 */
export interface SignalDefinition<Args extends unknown[] = []> {
  readonly type: 'signal';
  readonly name: string;
  /** Carries the argument types; never set at run time. */
  readonly __args?: Args;
}

export function defineSignal<Args extends unknown[] = []>(name: string): SignalDefinition<Args> {
  if (!name) throw new TypeError('defineSignal needs a name');
  return { type: 'signal', name };
}

/** A named query: a synchronous, read-only view of the workflow's state. */
export interface QueryDefinition<Ret, Args extends unknown[] = []> {
  readonly type: 'query';
  readonly name: string;
  /** Carries the types; never set at run time. */
  readonly __types?: { ret: Ret; args: Args };
}

export function defineQuery<Ret, Args extends unknown[] = []>(name: string): QueryDefinition<Ret, Args> {
  if (!name) throw new TypeError('defineQuery needs a name');
  return { type: 'query', name };
}

/**
 * Handles a signal or a query in the current workflow (pass undefined to
 * remove the handler). Signals that arrived before the handler was set are
 * delivered to it at once, in the order they arrived; a signal handler that
 * throws fails the run. Query handlers answer synchronously from the state
 * and must not change it. A plain string names a signal.
 */
export function setHandler<Args extends unknown[]>(
  definition: SignalDefinition<Args> | string,
  handler: ((...args: Args) => void | Promise<void>) | undefined,
): void;
export function setHandler<Ret, Args extends unknown[]>(
  definition: QueryDefinition<Ret, Args>,
  handler: ((...args: Args) => Ret) | undefined,
): void;
export function setHandler(
  definition: SignalDefinition<unknown[]> | QueryDefinition<unknown, unknown[]> | string,
  handler: ((...args: unknown[]) => unknown) | undefined,
): void {
  const instance = currentWorkflow('setHandler');
  if (typeof definition !== 'string' && definition.type === 'query') {
    instance.handlers.setQuery(definition.name, handler);
    return;
  }
  instance.handlers.setSignal(typeof definition === 'string' ? definition : definition.name, handler);
}

/**
 * Waits until `predicate` is true, re-checked after every event the workflow
 * sees (a signal, an activity result, a timer). With a timeout it resolves
 * false if the timeout (a durable timer) passes first; otherwise true.
 */
export function condition(predicate: () => boolean, timeout?: Duration): Promise<boolean> {
  const instance = currentWorkflow('condition');
  return instance.waitForCondition(predicate, timeout === undefined ? undefined : toMs(timeout));
}
