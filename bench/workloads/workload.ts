// The shape every workload shares: a name, which systems it applies to, and
// a run that returns flat numeric results (medians over repetitions).
import type { Sizes, WorkloadName } from '../options.js';
import type { BenchSystem } from '../systems/system.js';

export interface WorkloadContext {
  system: BenchSystem;
  sizes: Sizes;
  log: (line: string) => void;
}

/** Flat figures; a nested map (e.g. statements by shape) goes to the JSON only. */
export type WorkloadResult = Record<string, number | boolean | string | Record<string, number>>;

/**
 * A workload is measured one of two ways. `run`: once per system, the
 * systems one after another (untimed counts, and the long one-off runs).
 * `open`: timed, in rounds. Each system's session is opened (and warmed)
 * first and kept open; every round then measures each system once, one
 * after another, so a change in the machine's speed lands on every system
 * alike, and a ratio is taken within each round (see `rounds.ts`).
 */
export interface Workload {
  name: WorkloadName;
  title: string;
  supports(system: BenchSystem): boolean;
  run?(context: WorkloadContext): Promise<WorkloadResult>;
  open?(context: WorkloadContext): Promise<Trial>;
  /** One system's figures from its rounds; by default the median of each. */
  combine?(rounds: readonly WorkloadResult[]): WorkloadResult;
}

/** An open, warmed session of a timed workload on one system. */
export interface Trial {
  /** One repetition: flat figures of this round. */
  measure(): Promise<WorkloadResult>;
  close(): Promise<void>;
}

/** Repeats `once` and returns every repetition's result. */
export async function repeat<T>(times: number, once: (repetition: number) => Promise<T>): Promise<T[]> {
  const runs: T[] = [];
  for (let i = 0; i < times; i++) runs.push(await once(i));
  return runs;
}
