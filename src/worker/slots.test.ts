import { describe, expect, test } from 'vitest';
import { Slots } from './slots.js';

describe('Slots', () => {
  test('a released slot goes to the waiters in turn, a `first` waiter ahead of the others', async () => {
    const slots = new Slots(1);
    const never = new AbortController().signal;
    await slots.acquire(never);
    const order: string[] = [];
    const poll = slots.acquire(never).then(() => order.push('poll'));
    const report = slots.acquire(never, { first: true }).then(() => order.push('report'));
    slots.release();
    await report;
    expect(order).toEqual(['report']);
    slots.release();
    await poll;
    expect(order).toEqual(['report', 'poll']);
    expect(slots.taken).toBe(1);
  });

  test('taken counts slots held, whether taken at once or waited for; an aborted wait holds one to give back', async () => {
    const slots = new Slots(3);
    expect(slots.tryAcquire(5)).toBe(3);
    expect(slots.taken).toBe(3);
    const waiting = new AbortController();
    const waited = slots.acquire(waiting.signal);
    waiting.abort();
    await waited;
    expect(slots.taken).toBe(4);
    slots.release();
    slots.release();
    expect(slots.taken).toBe(2);
    expect(slots.tryAcquire(1)).toBe(1);
  });
});
