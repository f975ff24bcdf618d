import { describe, expect, test } from 'vitest';
import type { NewActivityTask, RunRow } from '../store/index.js';
import { activityTimerKey } from './apply-commands.js';
import { chooseEagerActivities } from './eager-dispatch.js';

const run = { namespace: 'ns', runId: 'r1', taskQueue: 'main' } as RunRow;

function scheduled(id: number, activityType: string, taskQueue = 'main'): NewActivityTask {
  return {
    namespace: 'ns',
    runId: 'r1',
    scheduledEventId: id,
    workflowId: 'w',
    workflowType: 'wf',
    activityId: String(id),
    activityType,
    taskQueue,
    input: [],
    scheduledAt: 1000,
    visibleAt: 1000,
    scheduleToStartMs: null,
    startToCloseMs: 5000,
    scheduleToCloseMs: null,
    heartbeatMs: null,
    retryPolicy: {} as NewActivityTask['retryPolicy'],
  };
}

let ids = 0;
const newId = () => `lease-${++ids}`;

describe('chooseEagerActivities', () => {
  test('without an offer, nothing is eager and every task is kept as scheduled', () => {
    const tasks = [scheduled(5, 'a'), scheduled(6, 'b')];
    const chosen = chooseEagerActivities(tasks, run, undefined, 2000, newId);
    expect(chosen.tasks).toEqual(tasks);
    expect(chosen.timerKeys.size).toBe(0);
  });

  test('takes, in order and up to the free slots, activities of offered types on the workflow queue', () => {
    const tasks = [
      scheduled(5, 'a'),
      scheduled(6, 'other-type'),
      scheduled(7, 'a', 'gpu-queue'),
      scheduled(8, 'b'),
      scheduled(9, 'a'),
    ];
    const chosen = chooseEagerActivities(tasks, run, { max: 2, types: ['a', 'b'] }, 2000, newId);
    expect(chosen.tasks.map((t) => [t.scheduledEventId, 'lease' in t ? t.lease?.startedAt : undefined])).toEqual([
      [5, 2000],
      [6, undefined],
      [7, undefined],
      [8, 2000],
      [9, undefined],
    ]);
    expect([...chosen.timerKeys]).toEqual([activityTimerKey(5), activityTimerKey(8)]);
    const leases = chosen.tasks.flatMap((t) => ('lease' in t && t.lease ? [t.lease.leaseId] : []));
    expect(new Set(leases).size).toBe(2);
  });

  test('an offer of zero slots takes nothing', () => {
    const chosen = chooseEagerActivities([scheduled(5, 'a')], run, { max: 0, types: ['a'] }, 2000, newId);
    expect(chosen.tasks.every((t) => !('lease' in t))).toBe(true);
  });
});
