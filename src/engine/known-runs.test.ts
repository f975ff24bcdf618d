import { describe, expect, test } from 'vitest';
import type { RunRow, WorkflowTaskRow } from '../store/index.js';
import { queuedWorkflowTask } from './context.js';
import { type KnownRun, KnownRuns } from './known-runs.js';

function run(runId: string, nextEventId = 3): RunRow {
  return {
    namespace: 'ns',
    runId,
    workflowId: `wf-${runId}`,
    workflowType: 't',
    taskQueue: 'q',
    status: 'running',
    requestId: null,
    nextEventId,
    seenUpToEventId: 0,
    workflowTaskTimeoutMs: 10_000,
    startTime: 1,
    closeTime: null,
    result: null,
    failure: null,
    nextRunId: null,
    executionDeadline: null,
    parentRunId: null,
    parentInitiatedEventId: null,
    parentClosePolicy: null,
    hasChildren: false,
    hasUpdates: false,
  };
}

function state(runId: string, nextEventId = 3): KnownRun {
  const r = run(runId, nextEventId);
  return { run: r, workflowTask: queuedWorkflowTask(r, 5), activities: new Map() };
}

const leased = (task: WorkflowTaskRow): WorkflowTaskRow => ({
  ...task,
  leaseId: 'l',
  leasedAt: 6,
  lastEventIdAtLease: 2,
});

describe('KnownRuns', () => {
  test('hands out copies: changing one does not change what is known', () => {
    const known = new KnownRuns();
    known.know(state('a'));
    const copy = known.take('ns', 'a')!;
    copy.run.nextEventId = 99;
    copy.workflowTask!.leaseId = 'x';
    (copy.activities as Map<number, unknown>).set(1, {});
    expect(known.peek('ns', 'a')).toEqual(state('a'));
  });

  test('keeps at most its capacity, dropping the run changed least recently', () => {
    const known = new KnownRuns(2);
    known.know(state('a'));
    known.know(state('b'));
    known.know(state('a', 4));
    known.know(state('c'));
    expect(known.size).toBe(2);
    expect(known.peek('ns', 'b')).toBeUndefined();
    expect(known.peek('ns', 'a')?.run.nextEventId).toBe(4);
  });

  test('a poll that leased the task of a run as known keeps it known with the lease; a run that moved is forgotten', () => {
    const known = new KnownRuns();
    known.know(state('a'));
    known.know(state('b'));
    const taskA = leased(state('a').workflowTask!);
    known.workflowTaskLeased(taskA, { nextEventId: 3, seenUpToEventId: 0 });
    expect(known.peek('ns', 'a')?.workflowTask).toEqual(taskA);
    known.workflowTaskLeased(leased(state('b').workflowTask!), { nextEventId: 5, seenUpToEventId: 0 });
    expect(known.peek('ns', 'b')).toBeUndefined();
  });

  test('stops guessing for a while when more than one guess in ten misses, then tries again', () => {
    const known = new KnownRuns();
    known.know(state('a'));
    for (let i = 0; i < 100; i++) {
      known.sent();
      if (i % 5 === 0) known.miss('ns', 'x');
    }
    expect(known.missed).toBe(20);
    for (let i = 0; i < 1000; i++) expect(known.take('ns', 'a')).toBeUndefined();
    expect(known.take('ns', 'a')).toBeDefined();
  });

  test('a window with few misses does not pause', () => {
    const known = new KnownRuns();
    known.know(state('a'));
    for (let i = 0; i < 100; i++) {
      known.sent();
      if (i % 20 === 0) known.miss('ns', 'x');
    }
    expect(known.take('ns', 'a')).toBeDefined();
  });
});
