// The benchmark's workflows and activities for Tideway, loaded both by the
// in-process session and by the separate worker process of server mode.
import { proxyActivities, sideEffect, sleep } from '../../src/workflow/index.js';

/** The real clock; `Date` inside workflow code is workflow-task time. */
function wallClockMs(): number {
  return performance.timeOrigin + performance.now();
}

export const activities = {
  async addOne(n: number): Promise<number> {
    return n + 1;
  },
  async stamp(_step: number): Promise<number> {
    return wallClockMs();
  },
};

const { addOne, stamp } = proxyActivities<typeof activities>({ startToCloseTimeout: '30s' });

export async function hello(n: number): Promise<number> {
  return await addOne(n);
}

export async function tenSteps(n: number): Promise<number> {
  let value = n;
  for (let i = 0; i < 10; i++) value = await addOne(value);
  return value;
}

export async function sleeper(ms: number): Promise<{ sleptAt: number; wokeAt: number }> {
  // Recorded once as markers, so a replay returns the same values.
  const sleptAt = sideEffect(wallClockMs);
  await sleep(ms);
  const wokeAt = sideEffect(wallClockMs);
  return { sleptAt, wokeAt };
}

export async function longHistory(steps: number): Promise<number[]> {
  const times: number[] = [];
  for (let i = 0; i < steps; i++) times.push(await stamp(i));
  return times;
}

export const workflows = { hello, tenSteps, sleeper, longHistory };

export const TASK_QUEUE = 'bench';
export const quietLogger = { debug() {}, info() {}, warn() {}, error: console.error };
