// 2. Throughput: many one-activity workflows started at once, all awaited;
// workflows completed per second of wall time.
import { round } from '../stats.js';
import { runId, sessionTrial, warmUp } from './with-session.js';
import type { Workload } from './workload.js';

export const throughput: Workload = {
  name: 'throughput',
  title: 'throughput: one-activity workflows started concurrently, all awaited',
  supports: () => true,
  open: ({ system, sizes }) =>
    sessionTrial(
      system,
      sizes.warmupMs,
      // Bursts of `warmup` at once, as the rounds run them.
      (session, ms) =>
        warmUp(1, ms, () =>
          Promise.all(Array.from({ length: sizes.warmup }, (_, i) => session.execute('hello', runId('warm'), i))),
        ),
      async (session) => {
        const n = sizes.throughputWorkflows;
        const t0 = performance.now();
        const results = await Promise.all(
          Array.from({ length: n }, (_, i) => session.execute('hello', runId('throughput'), i)),
        );
        const seconds = (performance.now() - t0) / 1000;
        return {
          started: n,
          completed: results.filter((r, i) => r === i + 1).length,
          wallS: round(seconds),
          workflowsPerS: round(n / seconds),
        };
      },
    ),
};
