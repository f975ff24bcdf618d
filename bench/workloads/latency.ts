// 1. Latency: start a one-activity workflow and await its result, in
// sequence; p50 and p99 of the round trip.
import { percentile, round } from '../stats.js';
import { runId, sessionTrial, warmUp } from './with-session.js';
import type { Workload } from './workload.js';

export const latency: Workload = {
  name: 'latency',
  title: 'latency: one-activity workflow, start → result, sequential',
  supports: () => true,
  open: ({ system, sizes }) =>
    sessionTrial(
      system,
      sizes.warmupMs,
      (session, ms) => warmUp(sizes.warmup, ms, (i) => session.execute('hello', runId('warm'), i)),
      async (session) => {
        const times: number[] = [];
        let completed = 0;
        for (let i = 0; i < sizes.latencyRuns; i++) {
          const t0 = performance.now();
          const result = await session.execute('hello', runId('latency'), i);
          times.push(performance.now() - t0);
          if (result === i + 1) completed++;
        }
        return {
          started: sizes.latencyRuns,
          completed,
          p50Ms: round(percentile(times, 50)),
          p99Ms: round(percentile(times, 99)),
        };
      },
    ),
};
