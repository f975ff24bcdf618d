import { describe, expect, test } from 'vitest';
import { runRow } from '../../test/fixtures/run-row.js';
import type { WorkflowTaskRow } from '../store/index.js';
import { queuedWorkflowTask } from './context.js';
import { type KnownRun, type KnownRunRow, KnownRuns } from './known-runs.js';

/** A run as known: the store's fixture row without its buffered signals (never kept). */
function run(runId: string, nextEventId = 3): KnownRunRow {
  const { bufferedSignals: _, ...row } = runRow('ns', { runId, nextEventId });
  return row;
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

  test("a poll that claimed a run's task makes it known; activities known before stay only if the run had not moved", () => {
    const known = new KnownRuns();
    const a = state('a');
    known.know({ ...a, activities: new Map([[4, {} as never]]) });
    const taskA = leased(a.workflowTask!);
    known.workflowTaskClaimed(a.run, taskA);
    expect(known.peek('ns', 'a')?.workflowTask).toEqual(taskA);
    expect(known.peek('ns', 'a')?.activities.size).toBe(1);
    const moved = run('a', 6);
    known.workflowTaskClaimed(moved, taskA);
    expect(known.peek('ns', 'a')?.run).toEqual(moved);
    expect(known.peek('ns', 'a')?.activities.size).toBe(0);
    known.workflowTaskClaimed(run('b'), leased(state('b').workflowTask!));
    expect(known.peek('ns', 'b')?.run).toEqual(run('b'));
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

  test('completions of one run take turns; other runs do not wait', async () => {
    const known = new KnownRuns();
    const order: string[] = [];
    let letFirstFinish = () => {};
    const first = known.inTurn('ns', 'a', async () => {
      order.push('a1 start');
      await new Promise<void>((resolve) => {
        letFirstFinish = resolve;
      });
      order.push('a1 end');
    });
    const second = known.inTurn('ns', 'a', async () => {
      order.push('a2');
    });
    await known.inTurn('ns', 'b', async () => {
      order.push('b');
    });
    expect(order).toEqual(['a1 start', 'b']);
    letFirstFinish();
    await Promise.all([first, second]);
    expect(order).toEqual(['a1 start', 'b', 'a1 end', 'a2']);
    // A turn that fails lets the next one go.
    await expect(known.inTurn('ns', 'a', async () => Promise.reject(new Error('no')))).rejects.toThrow('no');
    expect(await known.inTurn('ns', 'a', async () => 'next')).toBe('next');
  });
});
