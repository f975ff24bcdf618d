import { describe, expect, test } from 'vitest';
import type { WorkflowTask } from '../protocol/index.js';
import { HANDOFF_GRACE_MS, WaitingPolls } from './waiting-polls.js';

const task = (runId: string) => ({ runId }) as WorkflowTask;

/** Whether a promise has settled by the end of the current macrotask. */
async function settled(promise: Promise<unknown>): Promise<boolean> {
  let done = false;
  void promise.then(() => {
    done = true;
  });
  await new Promise((resolve) => setImmediate(resolve));
  return done;
}

describe('WaitingPolls', () => {
  test('a start takes a poll of its queue and type; the poll gets the task it delivers', async () => {
    const polls = new WaitingPolls();
    const waiting = polls.enter('ns', 'main', ['a', 'b']);
    expect(polls.size).toBe(1);
    const handoff = polls.take('ns', 'main', 'b');
    expect(handoff).toBeDefined();
    expect(await settled(waiting.taken)).toBe(true);
    // Taken: no second start can take it.
    expect(polls.take('ns', 'main', 'b')).toBeUndefined();
    expect(polls.size).toBe(0);
    const outcome = waiting.leave();
    expect(await settled(outcome)).toBe(false);
    handoff!.deliver(task('r1'));
    expect(await outcome).toEqual([{ runId: 'r1' }]);
    expect(polls.handedOff).toBe(1);
  });

  test('polls of another queue, namespace or types are not taken', async () => {
    const polls = new WaitingPolls();
    const waiting = polls.enter('ns', 'main', ['a']);
    expect(polls.take('ns', 'other', 'a')).toBeUndefined();
    expect(polls.take('other-ns', 'main', 'a')).toBeUndefined();
    expect(polls.take('ns', 'main', 'b')).toBeUndefined();
    expect(await settled(waiting.taken)).toBe(false);
    expect(await waiting.leave()).toBeUndefined();
  });

  test('a cancelled handoff leaves the poll to carry on; settling twice keeps the first outcome', async () => {
    const polls = new WaitingPolls();
    const waiting = polls.enter('ns', 'main', ['a']);
    const handoff = polls.take('ns', 'main', 'a')!;
    handoff.cancel();
    handoff.deliver(task('late'));
    expect(await waiting.leave()).toBeUndefined();
    expect(polls.handedOff).toBe(0);
  });

  test('a poll that left is never taken', () => {
    const polls = new WaitingPolls();
    const waiting = polls.enter('ns', 'main', ['a']);
    void waiting.leave();
    expect(polls.take('ns', 'main', 'a')).toBeUndefined();
    expect(polls.size).toBe(0);
  });

  test('each waiting poll is taken by one start at most', () => {
    const polls = new WaitingPolls();
    polls.enter('ns', 'main', ['a']);
    polls.enter('ns', 'main', ['a']);
    expect(polls.take('ns', 'main', 'a')).toBeDefined();
    expect(polls.take('ns', 'main', 'a')).toBeDefined();
    expect(polls.take('ns', 'main', 'a')).toBeUndefined();
  });

  test('a poll with places is taken by as many starts, answers after their turn, and gets every task delivered', async () => {
    const polls = new WaitingPolls();
    const waiting = polls.enter('ns', 'main', ['a'], 3);
    const first = polls.take('ns', 'main', 'a')!;
    // Not answered within the turn of its first start: the starts made with it take places too.
    let taken = false;
    void waiting.taken.then(() => {
      taken = true;
    });
    await Promise.resolve();
    await Promise.resolve();
    expect(taken).toBe(false);
    const second = polls.take('ns', 'main', 'a')!;
    const third = polls.take('ns', 'main', 'a')!;
    // Full: no fourth start takes it.
    expect(polls.take('ns', 'main', 'a')).toBeUndefined();
    expect(polls.size).toBe(0);
    expect(await settled(waiting.taken)).toBe(true);
    const outcome = waiting.leave();
    // Answered once every start that took a place settled, in the order they delivered.
    third.deliver(task('r3'));
    first.deliver(task('r1'));
    expect(await settled(outcome)).toBe(false);
    second.cancel();
    expect(await outcome).toEqual([{ runId: 'r3' }, { runId: 'r1' }]);
    expect(polls.handedOff).toBe(2);
  });

  test('a poll with room left stays open until it leaves; one whose starts all failed carries on', async () => {
    const polls = new WaitingPolls();
    const waiting = polls.enter('ns', 'main', ['a'], 5);
    const handoff = polls.take('ns', 'main', 'a')!;
    expect(polls.size).toBe(1);
    handoff.cancel();
    const outcome = waiting.leave();
    expect(polls.take('ns', 'main', 'a')).toBeUndefined();
    expect(await outcome).toBeUndefined();
  });

  test('a start that settles before the poll leaves is counted once the poll does', async () => {
    const polls = new WaitingPolls();
    const waiting = polls.enter('ns', 'main', ['a'], 2);
    polls.take('ns', 'main', 'a')!.deliver(task('early'));
    const late = polls.take('ns', 'main', 'a')!;
    const outcome = waiting.leave();
    expect(await settled(outcome)).toBe(false);
    late.deliver(task('late'));
    expect(await outcome).toEqual([{ runId: 'early' }, { runId: 'late' }]);
  });

  test('a place given back after the poll left is not offered again', async () => {
    const polls = new WaitingPolls();
    const waiting = polls.enter('ns', 'main', ['a'], 1);
    const handoff = polls.take('ns', 'main', 'a')!;
    const outcome = waiting.leave();
    handoff.cancel();
    expect(await outcome).toBeUndefined();
    expect(polls.take('ns', 'main', 'a')).toBeUndefined();
    expect(polls.size).toBe(0);
  });

  test('a poll with a task answers after its grace without a start still out; that start is refused', async () => {
    const polls = new WaitingPolls();
    const waiting = polls.enter('ns', 'main', ['a'], 3);
    const quick = polls.take('ns', 'main', 'a')!;
    const slow = polls.take('ns', 'main', 'a')!;
    const outcome = waiting.leave();
    const since = Date.now();
    expect(quick.deliver(task('quick'))).toBe(true);
    expect(await settled(outcome)).toBe(false);
    expect(await outcome).toEqual([{ runId: 'quick' }]);
    expect(Date.now() - since).toBeGreaterThanOrEqual(HANDOFF_GRACE_MS - 1);
    // Answered: the late task is refused (its start gives it back to the queue), and not counted.
    expect(slow.deliver(task('slow'))).toBe(false);
    expect(polls.handedOff).toBe(1);
  });

  test('a poll with nothing delivered yet waits for its starts however long they take', async () => {
    const polls = new WaitingPolls();
    const waiting = polls.enter('ns', 'main', ['a'], 2);
    const handoff = polls.take('ns', 'main', 'a')!;
    const outcome = waiting.leave();
    await new Promise((resolve) => setTimeout(resolve, HANDOFF_GRACE_MS + 50));
    expect(await settled(outcome)).toBe(false);
    expect(handoff.deliver(task('late'))).toBe(true);
    expect(await outcome).toEqual([{ runId: 'late' }]);
  });

  test('idle polls share a burst: each place taken sends its poll to the back', async () => {
    const polls = new WaitingPolls();
    const one = polls.enter('ns', 'main', ['a'], 3);
    const two = polls.enter('ns', 'main', ['a'], 3);
    const handoffs = [1, 2, 3, 4].map(() => polls.take('ns', 'main', 'a')!);
    for (const [i, h] of handoffs.entries()) h.deliver(task(`r${i + 1}`));
    expect(await one.leave()).toEqual([{ runId: 'r1' }, { runId: 'r3' }]);
    expect(await two.leave()).toEqual([{ runId: 'r2' }, { runId: 'r4' }]);
  });
});
