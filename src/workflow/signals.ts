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

/** A named update: validated, then handled by the workflow, returning a result to the caller. */
export interface UpdateDefinition<Ret, Args extends unknown[] = []> {
  readonly type: 'update';
  readonly name: string;
  /** Carries the types; never set at run time. */
  readonly __types?: { ret: Ret; args: Args };
}

export function defineUpdate<Ret, Args extends unknown[] = []>(name: string): UpdateDefinition<Ret, Args> {
  if (!name) throw new TypeError('defineUpdate needs a name');
  return { type: 'update', name };
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
/**
 * Handles an update. The optional validator runs first and synchronously:
 * if it throws, the update is rejected and leaves no trace in history. The
 * handler may await activities, timers and conditions; its result (or
 * failure) goes back to the caller. A failing handler fails the update, not
 * the workflow.
 */
export function setHandler<Ret, Args extends unknown[]>(
  definition: UpdateDefinition<Ret, Args>,
  handler: ((...args: Args) => Ret | Promise<Ret>) | undefined,
  options?: { validator?: (...args: Args) => void },
): void;
export function setHandler(
  definition:
    | SignalDefinition<unknown[]>
    | QueryDefinition<unknown, unknown[]>
    | UpdateDefinition<unknown, unknown[]>
    | string,
  handler: ((...args: unknown[]) => unknown) | undefined,
  options?: { validator?: (...args: unknown[]) => void },
): void {
  const instance = currentWorkflow('setHandler');
  if (typeof definition !== 'string' && definition.type === 'update') {
    instance.handlers.setUpdate(definition.name, handler, options?.validator);
    return;
  }
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
