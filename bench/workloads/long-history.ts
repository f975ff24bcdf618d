// 5. Long history: one workflow of many sequential activities. Each activity
// returns the real clock, so the gap between consecutive ones is the cost of
// one step; compared near step 10, the middle and the end, with Tideway's
// sticky cache on and off (DBOS has no replay cache: one run).
import { median, round } from '../stats.js';
import type { BenchSystem } from '../systems/system.js';
import { runId, withSession } from './with-session.js';
import type { Workload, WorkloadContext, WorkloadResult } from './workload.js';

/** Median gap (ms) between consecutive steps in a window of ~10 steps ending at `end`. */
function stepCostAround(times: number[], end: number): number {
  const last = Math.min(Math.max(end, 2), times.length - 1);
  const first = Math.max(1, last - 9);
  const gaps: number[] = [];
  for (let i = first; i <= last; i++) gaps.push(times[i]! - times[i - 1]!);
  return median(gaps);
}

async function measure(system: BenchSystem, steps: number, cache: boolean): Promise<WorkloadResult> {
  const { value } = await withSession(system, { cache }, async (session) => {
    const t0 = performance.now();
    const times = await session.execute('longHistory', runId('long'), steps);
    return { times, seconds: (performance.now() - t0) / 1000 };
  });
  const { times, seconds } = value;
  const early = stepCostAround(times, 15);
  const middle = stepCostAround(times, Math.round(steps / 2) + 5);
  const late = stepCostAround(times, steps - 1);
  // Per-step cost growing linearly with history (replay) grows by the same amount in
  // each half; growing quadratically, the second half's growth is ~3× the first's.
  const growthRatio = middle - early > 0.5 ? (late - middle) / (middle - early) : 0;
  return {
    steps,
    completed: times.length === steps ? 1 : 0,
    totalS: round(seconds),
    step10Ms: round(early),
    stepMidMs: round(middle),
    stepLastMs: round(late),
    lastOver10: round(late / early),
    growthRatio: round(growthRatio),
  };
}

export const longHistory: Workload = {
  name: 'longHistory',
  title: 'long history: one workflow of many sequential activities',
  supports: () => true,
  async run({ system, sizes }: WorkloadContext) {
    const runs = [prefixed('cache', await measure(system, sizes.longHistorySteps, true))];
    // DBOS does not replay, so it has no cache to turn off.
    if (system.engine === 'tideway')
      runs.push(prefixed('noCache', await measure(system, sizes.longHistorySteps, false)));
    return {
      started: runs.length,
      completed: runs.filter((r) => r.cacheCompleted === 1 || r.noCacheCompleted === 1).length,
      ...Object.assign({}, ...runs),
    };
  },
};

function prefixed(prefix: string, result: WorkloadResult): WorkloadResult {
  return Object.fromEntries(
    Object.entries(result).map(([k, v]) => [`${prefix}${k[0]!.toUpperCase()}${k.slice(1)}`, v]),
  );
}
