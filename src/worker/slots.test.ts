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

  test('a wait cut off with no slot free never lets its give-back put a waiter over capacity', async () => {
    const slots = new Slots(1);
    const never = new AbortController().signal;
    await slots.acquire(never);
    const cut = new AbortController();
    const cutOff = slots.acquire(cut.signal);
    cut.abort();
    await cutOff;
    let waiterRuns = false;
    const waiter = slots.acquire(never).then(() => {
      waiterRuns = true;
    });
    // The cut-off wait gives back the slot it was told it holds: the one real slot is still held.
    slots.release();
    await new Promise((resolve) => setImmediate(resolve));
    expect(waiterRuns).toBe(false);
    expect(slots.taken).toBe(1);
    // The holder gives back the real one: now the waiter runs, alone.
    slots.release();
    await waiter;
    expect(slots.taken).toBe(1);
    expect(slots.tryAcquire(1)).toBe(0);
  });
});
