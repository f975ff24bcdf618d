// 6. Backlog: many one-activity workflows started while no worker runs, then
// one worker started; the drain rate from the moment it is ready until the
// store shows them all completed (read every 200 ms).
import { round } from '../stats.js';
import { inBatches, runId, withSession } from './with-session.js';
import type { Workload } from './workload.js';

const START_CONCURRENCY = 32;
const POLL_MS = 200;

export const backlog: Workload = {
  name: 'backlog',
  title: 'backlog: workflows started with no worker, then one worker drains them',
  supports: () => true,
  async run({ system, sizes, log }) {
    const n = sizes.backlogWorkflows;
    const { value } = await withSession(system, { worker: false }, async (session) => {
      const t0 = performance.now();
      await inBatches(n, START_CONCURRENCY, (i) => session.start('hello', runId('backlog'), i));
      const startSeconds = (performance.now() - t0) / 1000;
      log(`    ${n} started in ${startSeconds.toFixed(1)} s; starting the worker`);
      const t1 = performance.now();
      await session.startWorker();
      const ready = performance.now();
      // Generous: a drain slower than 5 workflows/s is reported as a failure, not waited for.
      const deadline = ready + 60_000 + (n / 5) * 1000;
      let completed = await session.countCompleted();
      while (completed < n && performance.now() < deadline) {
        await new Promise((resolve) => setTimeout(resolve, POLL_MS));
        completed = await session.countCompleted();
      }
      const done = performance.now();
      return { startSeconds, workerStartS: (ready - t1) / 1000, drainS: (done - ready) / 1000, completed };
    });
    return {
      started: n,
      completed: value.completed,
      startsPerS: round(n / value.startSeconds),
      workerStartS: round(value.workerStartS),
      drainS: round(value.drainS),
      drainPerS: round(value.completed / value.drainS),
    };
  },
};
