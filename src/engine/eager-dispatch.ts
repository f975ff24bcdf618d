import type { ActivityTask } from '../protocol/index.js';
import {
  type ActivityTaskRow,
  type EagerLease,
  NEVER,
  type NewActivityTask,
  type Queryable,
  type RunRow,
} from '../store/index.js';
import { startActivityAttempt } from './activity-dispatch.js';
import { activityTimerKey } from './apply-commands.js';
import type { KnownActivity } from './known-runs.js';

/**
 * Eager dispatch. The worker completing a workflow task usually runs the
 * activities it schedules, and the worker completing an activity usually
 * runs the workflow task that result creates. Handing those tasks back in
 * the completion's response (leased in the same transaction) saves each of
 * them a trip through the queue: a poll wake-up, a claim transaction and a
 * round trip. An activity step then costs two write transactions, not four.
 */

/** Activities handed to the completing worker, leased as they are inserted. */
export interface EagerActivities {
  /** Every activity the task scheduled; eager ones carry their lease. */
  tasks: (NewActivityTask & { lease?: EagerLease })[];
  /** Timer keys of the eager ones: their queue-wait timers are replaced by started-attempt timers. */
  timerKeys: Set<string>;
}

/**
 * Picks, up to the worker's free slots, the scheduled activities it can run:
 * on the workflow's own task queue (the queue the worker polls) and of a
 * type it registered.
 */
export function chooseEagerActivities(
  scheduled: readonly NewActivityTask[],
  run: RunRow,
  offer: { max: number; types: string[] } | undefined,
  now: number,
  newId: () => string,
): EagerActivities {
  const timerKeys = new Set<string>();
  if (!offer || offer.max === 0) return { tasks: [...scheduled], timerKeys };
  const types = new Set(offer.types);
  let left = offer.max;
  const tasks = scheduled.map((task) => {
    if (left === 0 || task.taskQueue !== run.taskQueue || !types.has(task.activityType)) return task;
    left--;
    timerKeys.add(activityTimerKey(task.scheduledEventId));
    return { ...task, lease: { leaseId: newId(), startedAt: now } };
  });
  return { tasks, timerKeys };
}

/** The scheduled activities' rows as inserted, eagerly leased or queued (see known-runs.ts). */
export function knownActivitiesOf(tasks: EagerActivities['tasks']): KnownActivity[] {
  return tasks.map(({ lease, input: _, ...task }) => ({
    ...task,
    visibleAt: lease ? NEVER : task.visibleAt,
    attempt: 1,
    leaseId: lease?.leaseId ?? null,
    startedAt: lease?.startedAt ?? null,
    lastFailure: null,
    cancelRequested: false,
  }));
}

/** Starts the eagerly leased attempts (timers, task events) and builds the tasks the worker runs. */
export async function startEagerActivities(
  tx: Queryable,
  tasks: EagerActivities['tasks'],
  now: number,
  notify: (key: string) => void,
): Promise<ActivityTask[]> {
  const started: ActivityTask[] = [];
  for (const { lease, ...task } of tasks) {
    if (!lease) continue;
    const row: ActivityTaskRow = {
      ...task,
      visibleAt: NEVER,
      attempt: 1,
      leaseId: lease.leaseId,
      startedAt: lease.startedAt,
      heartbeatDetails: null,
      lastHeartbeatAt: null,
      lastFailure: null,
      cancelRequested: false,
    };
    started.push(await startActivityAttempt(tx, row, lease.leaseId, now, notify));
  }
  return started;
}
