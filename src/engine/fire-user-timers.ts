import type { NewEvent } from '../protocol/index.js';
import {
  deleteTimer,
  existingRuns,
  getWorkflowTasks,
  lockRunsSkipLocked,
  type Queryable,
  type RunKey,
  type TimerRow,
} from '../store/index.js';
import { deliverToWorkflow, type EngineContext } from './context.js';

const runKey = (k: RunKey): string => `${k.namespace}\u0000${k.runId}`;

/**
 * Fires a batch of due workflow timers (`sleep`) in the caller's transaction,
 * which holds their rows: a burst of timers falling due together costs a few
 * statements, not a transaction each. Runs are locked with SKIP LOCKED, never
 * waited for (this transaction already holds timer rows, and transitions lock
 * runs first); a run another transition holds keeps its timers for the next
 * round. Returns how many timers fired and whether any were left for a busy run.
 */
export async function fireUserTimers(
  ctx: EngineContext,
  tx: Queryable,
  timers: readonly TimerRow[],
  notify: (key: string) => void,
): Promise<{ fired: number; busy: boolean }> {
  const byRun = new Map<string, TimerRow[]>();
  for (const timer of timers) {
    const key = runKey(timer);
    byRun.set(key, [...(byRun.get(key) ?? []), timer]);
  }
  const keys = [...byRun.values()].map(([t]) => ({ namespace: t!.namespace, runId: t!.runId }));
  const locked = await lockRunsSkipLocked(tx, keys);
  const lockedKeys = new Set(locked.map(runKey));
  const missing = keys.filter((k) => !lockedKeys.has(runKey(k)));
  // A run left out is either held by another transition (busy: try again soon) or gone (its timers are moot).
  const held = new Set((await existingRuns(tx, missing)).map(runKey));
  let fired = 0;
  for (const key of missing) {
    if (held.has(runKey(key))) continue;
    fired += await dropTimers(tx, byRun.get(runKey(key))!);
  }
  const running = locked.filter((run) => run.status === 'running');
  const tasks = new Map((await getWorkflowTasks(tx, running)).map((task) => [runKey(task), task]));
  for (const run of locked) {
    const runTimers = byRun.get(runKey(run))!;
    fired += await dropTimers(tx, runTimers);
    if (run.status !== 'running') continue;
    // Timers of one run that fell due together are delivered in the order they were started.
    const events: NewEvent[] = [...runTimers]
      .sort((a, b) => Number(a.data.startedEventId) - Number(b.data.startedEventId))
      .map((timer) => ({
        type: 'TimerFired',
        attributes: { timerId: String(timer.data.timerId), startedEventId: Number(timer.data.startedEventId) },
      }));
    await deliverToWorkflow(ctx, tx, run, events, notify, { existingTask: tasks.get(runKey(run)) ?? null });
  }
  return { fired, busy: held.size > 0 };
}

async function dropTimers(tx: Queryable, timers: readonly TimerRow[]): Promise<number> {
  for (const t of timers) await deleteTimer(tx, t.namespace, t.runId, t.timerKey);
  return timers.length;
}
