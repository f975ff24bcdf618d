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

export interface Workload {
  name: WorkloadName;
  title: string;
  supports(system: BenchSystem): boolean;
  run(context: WorkloadContext): Promise<WorkloadResult>;
}

/** Repeats `once` and returns every repetition's result. */
export async function repeat<T>(times: number, once: (repetition: number) => Promise<T>): Promise<T[]> {
  const runs: T[] = [];
  for (let i = 0; i < times; i++) runs.push(await once(i));
  return runs;
}
