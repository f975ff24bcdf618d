import { describe, expect, test } from 'vitest';
import { type HistoryEvent, type NewEvent, TidewayApiError } from '../protocol/index.js';
import { chooseResetPoint } from './reset.js';
import { pendingStateOf } from './reset-pending-state.js';

const payload = (data: unknown) => ({ encoding: 'json/plain', data });
const retryPolicy = { initialIntervalMs: 1000, backoffCoefficient: 2, maximumIntervalMs: 100_000, maximumAttempts: 0 };

function history(...events: NewEvent[]): HistoryEvent[] {
  return events.map((e, i) => ({ ...e, eventId: i + 1, timestamp: 1000 + i }) as HistoryEvent);
}
const started: NewEvent = {
  type: 'WorkflowExecutionStarted',
  attributes: { workflowType: 'w', taskQueue: 'q', input: [], workflowTaskTimeoutMs: 10_000 },
};
const scheduled: NewEvent = { type: 'WorkflowTaskScheduled', attributes: { taskQueue: 'q' } };
const completed = (seenUpToEventId: number): NewEvent => ({
  type: 'WorkflowTaskCompleted',
  attributes: { seenUpToEventId, taskTime: 1000, identity: 'w1', attempt: 1 },
});
const activity = (activityId: string): NewEvent => ({
  type: 'ActivityTaskScheduled',
  attributes: { activityId, activityType: `act${activityId}`, taskQueue: 'q', input: [], retryPolicy },
});

describe('pendingStateOf', () => {
  test('activities, timers and children left open by a history prefix', () => {
    const events = history(
      started, // 1
      scheduled, // 2
      completed(2), // 3
      activity('1'), // 4
      activity('2'), // 5
      activity('3'), // 6
      { type: 'TimerStarted', attributes: { timerId: 't1', durationMs: 60_000, fireAt: 61_000 } }, // 7
      { type: 'TimerStarted', attributes: { timerId: 't2', durationMs: 1000, fireAt: 2000 } }, // 8
      {
        type: 'StartChildWorkflowExecutionInitiated',
        attributes: {
          childId: 'c1',
          workflowId: 'child-1',
          workflowType: 'child',
          taskQueue: 'q',
          input: [],
          parentClosePolicy: 'terminate',
        },
      }, // 9
      { type: 'ChildWorkflowExecutionStarted', attributes: { childId: 'c1', workflowId: 'child-1', runId: 'r-c1' } }, // 10
      {
        type: 'ActivityTaskCompleted',
        attributes: { scheduledEventId: 4, result: payload(1), attempt: 1, identity: 'w' },
      }, // 11
      { type: 'TimerFired', attributes: { timerId: 't2', startedEventId: 8 } }, // 12
      { type: 'ActivityTaskCancelRequested', attributes: { activityId: '3' } }, // 13
    );
    const pending = pendingStateOf(events);
    expect(pending.activities.map((e) => e.eventId)).toEqual([5]);
    expect(pending.timers.map((e) => e.attributes.timerId)).toEqual(['t1']);
    expect(pending.children).toEqual([{ childId: 'c1', workflowId: 'child-1', runId: 'r-c1', initiatedEventId: 9 }]);
    expect(pending.startedChildren).toBe(true);

    const childDone = pendingStateOf([
      ...events,
      {
        eventId: 14,
        timestamp: 0,
        type: 'ChildWorkflowExecutionCompleted',
        attributes: { childId: 'c1', runId: 'r-c1', result: payload('ok') },
      },
    ]);
    expect(childDone.children).toEqual([]);
  });
});

describe('chooseResetPoint', () => {
  const base = { runId: 'r1', workflowId: 'wf', status: 'running' as const };
  const events = history(started, scheduled, completed(2), activity('1'), scheduled, completed(5));

  test('last, first, or a named WorkflowTaskCompleted event', () => {
    expect(chooseResetPoint(base, events, { toLastWorkflowTask: true })).toBe(6);
    expect(chooseResetPoint(base, events, {})).toBe(3);
    expect(chooseResetPoint(base, events, { toEventId: 3 })).toBe(3);
  });

  test('an event that is not a boundary names the nearest ones; out of range names the range', () => {
    expect(() => chooseResetPoint(base, events, { toEventId: 4 })).toThrow(
      /event 4 \(ActivityTaskScheduled\) is not a workflow task boundary.*nearest are 3 and 6 \(all: 3, 6\)/,
    );
    expect(() => chooseResetPoint(base, events, { toEventId: 1 })).toThrow(/the nearest is 3/);
    expect(() => chooseResetPoint(base, events, { toEventId: 7 })).toThrow(/out of range: run r1 has events 1 to 6/);
  });

  test('a run with no completed workflow task cannot be reset', () => {
    const error = (() => {
      try {
        chooseResetPoint(base, history(started, scheduled), { toLastWorkflowTask: true });
      } catch (e) {
        return e;
      }
    })();
    expect(error).toBeInstanceOf(TidewayApiError);
    expect((error as TidewayApiError).code).toBe('FailedPrecondition');
    expect((error as TidewayApiError).message).toMatch(/no completed workflow task/);
  });
});
