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

/**
 * Handles a signal in the current workflow (pass undefined to remove the
 * handler). Signals that arrived before the handler was set are delivered to
 * it at once, in the order they arrived. A handler that throws fails the run.
 */
export function setHandler<Args extends unknown[]>(
  definition: SignalDefinition<Args> | string,
  handler: ((...args: Args) => void | Promise<void>) | undefined,
): void {
  const instance = currentWorkflow('setHandler');
  const name = typeof definition === 'string' ? definition : definition.name;
  instance.setSignalHandler(name, handler as ((...args: unknown[]) => unknown) | undefined);
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
