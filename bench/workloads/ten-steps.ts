// 3. Ten steps: a workflow of ten sequential activities, runs in sequence;
// p50 of the workflow and of one step (the workflow's p50 / 10).
import { percentile, round } from '../stats.js';
import { runId, sessionTrial, warmUp } from './with-session.js';
import type { Workload } from './workload.js';

export const tenSteps: Workload = {
  name: 'tenSteps',
  title: 'ten steps: ten sequential activities per workflow, sequential runs',
  supports: () => true,
  open: ({ system, sizes }) =>
    sessionTrial(
      system,
      sizes.warmupMs,
      (session, ms) => warmUp(Math.min(sizes.warmup, 5), ms, (i) => session.execute('tenSteps', runId('warm'), i)),
      async (session) => {
        const times: number[] = [];
        let completed = 0;
        for (let i = 0; i < sizes.tenStepRuns; i++) {
          const t0 = performance.now();
          const result = await session.execute('tenSteps', runId('ten'), i);
          times.push(performance.now() - t0);
          if (result === i + 10) completed++;
        }
        const p50 = percentile(times, 50);
        return {
          started: sizes.tenStepRuns,
          completed,
          p50Ms: round(p50),
          p99Ms: round(percentile(times, 99)),
          perStepMs: round(p50 / 10),
        };
      },
    ),
};
