import type { Engine } from '../../src/engine/index.js';

/** How many times something was called since the counter was made or last set to 0. */
export interface CallCounter {
  count: number;
}

/** Counts the engine's reads of single runs (result waits' reads); the reads still happen. */
export function countRunReads(engine: Engine): CallCounter {
  const counter = { count: 0 };
  const runReads = engine.ctx.runReads;
  const read = runReads.read.bind(runReads);
  runReads.read = (namespace, runId) => {
    counter.count++;
    return read(namespace, runId);
  };
  return counter;
}

/** Counts the engine's transactions of state transitions; they still run. */
export function countTransitions(engine: Engine): CallCounter {
  const counter = { count: 0 };
  const transition = engine.ctx.transition.bind(engine.ctx);
  engine.ctx.transition = (fn) => {
    counter.count++;
    return transition(fn);
  };
  return counter;
}
