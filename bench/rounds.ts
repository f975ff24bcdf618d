// Timed workloads in rounds. This machine's speed (and any shared one's)
// drifts by tens of percent within minutes; measured one system after the
// other, a ratio between systems would carry that drift. So every system's
// session is opened and warmed first and kept open, and each round then
// measures every system once, back to back, starting from a different one
// each round. A system that fails drops out of the later rounds; the others
// go on.
import type { Sizes } from './options.js';
import { medianOfRuns } from './stats.js';
import type { BenchSystem } from './systems/system.js';
import type { Trial, Workload, WorkloadResult } from './workloads/workload.js';

export interface RoundsOutcome {
  /** Each system's figures, combined over its rounds. */
  results: Map<string, WorkloadResult>;
  /** Each system's figures round by round (index = round). */
  rounds: Map<string, WorkloadResult[]>;
  /** The order the systems were measured in, round by round. */
  orders: string[][];
  errors: { system: string; message: string }[];
}

/** `items` rotated left by `by`: round r starts from the r-th system. */
export function rotate<T>(items: readonly T[], by: number): T[] {
  if (items.length === 0) return [];
  const k = by % items.length;
  return [...items.slice(k), ...items.slice(0, k)];
}

/** Round figures summed where they are counts, else the median of each. */
export function combineRounds(workload: Workload, rounds: readonly WorkloadResult[]): WorkloadResult {
  const combined = workload.combine ? workload.combine(rounds) : medianOfRuns(rounds);
  for (const key of ['started', 'completed']) {
    if (rounds.every((r) => typeof r[key] === 'number')) {
      combined[key] = rounds.reduce((sum, r) => sum + (r[key] as number), 0);
    }
  }
  return combined;
}

export async function runRounds(
  workload: Workload & Required<Pick<Workload, 'open'>>,
  systems: readonly BenchSystem[],
  sizes: Sizes,
  log: (line: string) => void,
): Promise<RoundsOutcome> {
  const outcome: RoundsOutcome = { results: new Map(), rounds: new Map(), orders: [], errors: [] };
  const fail = (system: BenchSystem, error: unknown) => {
    const message = error instanceof Error ? (error.stack ?? error.message) : String(error);
    outcome.errors.push({ system: system.id, message: message.split('\n')[0]! });
    log(`  ${system.label} failed: ${message}`);
  };
  const trials = new Map<BenchSystem, Trial>();
  try {
    for (const system of systems) {
      log(`${workload.name} · ${system.label}: opening and warming up`);
      try {
        trials.set(system, await workload.open({ system, sizes, log }));
        outcome.rounds.set(system.id, []);
      } catch (error) {
        fail(system, error);
      }
    }
    for (let round = 0; round < sizes.repetitions; round++) {
      const order = rotate([...trials.keys()], round);
      outcome.orders.push(order.map((s) => s.id));
      for (const system of order) {
        const t0 = performance.now();
        try {
          const result = await trials.get(system)!.measure();
          outcome.rounds.get(system.id)!.push(result);
          log(
            `  round ${round + 1} · ${system.label}, ${((performance.now() - t0) / 1000).toFixed(1)} s: ${JSON.stringify(result)}`,
          );
        } catch (error) {
          fail(system, error);
          const trial = trials.get(system)!;
          trials.delete(system);
          await trial.close().catch(() => undefined);
        }
      }
    }
  } finally {
    for (const [system, trial] of trials) {
      await trial.close().catch((error: unknown) => fail(system, error));
    }
  }
  for (const [id, rounds] of outcome.rounds) {
    if (rounds.length > 0) outcome.results.set(id, combineRounds(workload, rounds));
  }
  return outcome;
}
