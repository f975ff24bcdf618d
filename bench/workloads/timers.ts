// 4. Timers: many workflows each sleeping the same duration, concurrently.
// Wall time from the first start to the last result; the lateness of each
// timer as the workflow saw it: the real clock just after the sleep minus
// (the real clock just before it + the duration). Negative = fired early.
import { medianOfRuns, percentile, round, wallClockMs } from '../stats.js';
import { runId, sessionTrial, warmUp } from './with-session.js';
import type { Workload } from './workload.js';

export const timers: Workload = {
  name: 'timers',
  title: 'timers: concurrent workflows each sleeping once',
  supports: () => true,
  open: ({ system, sizes }) =>
    sessionTrial(
      system,
      sizes.warmupMs,
      // Bursts of short sleeps: the same paths (starts, timers, their fires) as the rounds.
      (session, ms) =>
        warmUp(1, ms, () =>
          Promise.all(
            Array.from({ length: Math.min(sizes.timerWorkflows, 20) }, () =>
              session.execute('sleeper', runId('warm'), 10),
            ),
          ),
        ),
      async (session) => {
        const n = sizes.timerWorkflows;
        const ms = sizes.timerSleepMs;
        const t0 = performance.now();
        const t0Ms = wallClockMs();
        const results = await Promise.all(
          Array.from({ length: n }, () => session.execute('sleeper', runId('timer'), ms)),
        );
        // In ms, to the tenth: the target (within 5% of the sleep) is a matter of milliseconds.
        const wallMs = performance.now() - t0;
        const endMs = wallClockMs();
        const lateness = results.map((r) => r.wokeAt - r.sleptAt - ms);
        return {
          started: n,
          completed: results.length,
          sleepMs: ms,
          wallMs: round(wallMs),
          latenessP50Ms: round(percentile(lateness, 50)),
          latenessP99Ms: round(percentile(lateness, 99)),
          latenessMaxMs: round(Math.max(...lateness)),
          latenessMinMs: round(Math.min(...lateness)),
          earlyTimers: lateness.filter((l) => l < 0).length,
          // Where the wall time beyond the sleep goes: until the last workflow
          // began its sleep, and from the last wake-up to the last result.
          lastSleepStartMs: round(Math.max(...results.map((r) => r.sleptAt)) - t0Ms),
          tailMs: round(endMs - Math.max(...results.map((r) => r.wokeAt))),
        };
      },
    ),
  // An early timer in any round counts: the total, and the extremes over all rounds.
  combine: (rounds) => ({
    ...medianOfRuns(rounds),
    earlyTimers: rounds.reduce((sum, r) => sum + (r.earlyTimers as number), 0),
    latenessMaxMs: Math.max(...rounds.map((r) => r.latenessMaxMs as number)),
    latenessMinMs: Math.min(...rounds.map((r) => r.latenessMinMs as number)),
  }),
};
