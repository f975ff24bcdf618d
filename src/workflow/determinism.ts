import { workflowStorage } from './context.js';
import { DeterminismViolationError } from './errors.js';

/**
 * The one place that makes globals deterministic inside workflows: `Date`
 * and `Date.now()` return workflow-task time, `Math.random()` a seeded
 * sequence; timers and `fetch` throw. Each override falls through to the
 * original outside a workflow, so the rest of the process is unaffected.
 */
const originals = {
  Date: globalThis.Date,
  random: Math.random,
  setTimeout: globalThis.setTimeout,
  setInterval: globalThis.setInterval,
  setImmediate: globalThis.setImmediate,
  fetch: globalThis.fetch,
};

/** The real clock, for the runtime's own use wherever it runs. */
export const realDateNow = (): number => originals.Date.now();

/** The real `setImmediate`, for the runtime's own scheduling. */
export const realSetImmediate = originals.setImmediate;

let installed = false;

export function installDeterminism(): void {
  if (installed) return;
  installed = true;
  const OriginalDate = originals.Date;

  class WorkflowDate extends OriginalDate {
    constructor(...args: unknown[]) {
      const instance = workflowStorage.getStore();
      if (args.length === 0 && instance) super(instance.now);
      else super(...(args as []));
    }
    static override now(): number {
      return workflowStorage.getStore()?.now ?? OriginalDate.now();
    }
    // Dates made by Node itself (fs.Stats, structuredClone) or before this ran are still Dates.
    static [Symbol.hasInstance](value: unknown): boolean {
      return value instanceof OriginalDate;
    }
  }
  Object.defineProperty(WorkflowDate, 'name', { value: 'Date' });
  // A class cannot be called without `new`, but `Date()` must still return the date as a string.
  globalThis.Date = new Proxy(WorkflowDate, { apply: () => new WorkflowDate().toString() }) as DateConstructor;

  Math.random = () => {
    const instance = workflowStorage.getStore();
    return instance ? instance.random() : originals.random();
  };

  const forbid = <F extends (...args: any[]) => any>(name: string, original: F, advice: string): F =>
    function (this: unknown, ...args: unknown[]) {
      const instance = workflowStorage.getStore();
      if (instance) {
        const error = new DeterminismViolationError(`${name}() cannot be used in workflow code: ${advice}`);
        // Recorded so the task fails even if the workflow code catches the error.
        instance.violation ??= error;
        throw error;
      }
      return original.apply(this, args);
    } as F;

  const timerAdvice = "use `await sleep(ms)` from 'tideway/workflow' for a durable timer";
  globalThis.setTimeout = Object.assign(forbid('setTimeout', originals.setTimeout, timerAdvice), originals.setTimeout);
  globalThis.setInterval = Object.assign(
    forbid('setInterval', originals.setInterval, timerAdvice),
    originals.setInterval,
  );
  globalThis.setImmediate = Object.assign(
    forbid('setImmediate', originals.setImmediate, timerAdvice),
    originals.setImmediate,
  );
  if (originals.fetch) {
    globalThis.fetch = forbid(
      'fetch',
      originals.fetch,
      'do I/O in an activity and call it with executeActivity or proxyActivities',
    );
  }
}
