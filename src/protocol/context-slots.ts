import { AsyncLocalStorage } from 'node:async_hooks';

/*
 * What the SDK tracks through async calls (the workflow a piece of code
 * belongs to, its cancellation scope, the activity attempt it runs in), as
 * slots of one frame in one AsyncLocalStorage. Each slot behaves as a
 * storage of its own: setting one keeps the others as they are. It lives
 * here because the workflow and activity layers may both import the
 * protocol, and nothing else they share.
 *
 * Why one storage: in Node 20 every enabled AsyncLocalStorage runs its own
 * hook for every promise the process creates, and adds its own property to
 * it. A worker makes about 190 promises per activity step (the engine's
 * included when it runs in the same process), and with three storages the
 * hooks cost about twice as much per promise as with one.
 */

interface Frame {
  readonly workflow?: unknown;
  readonly scope?: unknown;
  readonly activity?: unknown;
}
type SlotName = keyof Frame;

const frames = new AsyncLocalStorage<Frame>();

/** One slot, with the part of AsyncLocalStorage's interface the SDK uses. */
export interface ContextSlot<T> {
  /** The slot's value where the caller runs, if set. */
  getStore(): T | undefined;
  /** Calls `fn` with the slot set to `value`. */
  run<R>(value: T, fn: () => R): R;
  /** Calls `fn` with the slot unset. */
  exit<R>(fn: () => R): R;
}

export function contextSlot<T>(name: SlotName): ContextSlot<T> {
  return {
    getStore: () => frames.getStore()?.[name] as T | undefined,
    run: (value, fn) => frames.run({ ...frames.getStore(), [name]: value }, fn),
    exit: (fn) => frames.run({ ...frames.getStore(), [name]: undefined }, fn),
  };
}

/** Calls `fn` with several slots set at once (one frame instead of one per slot). */
export function runInSlots<R>(values: { readonly [K in SlotName]?: unknown }, fn: () => R): R {
  return frames.run({ ...frames.getStore(), ...values }, fn);
}
