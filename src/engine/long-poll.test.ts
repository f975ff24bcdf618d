import { expect, test } from 'vitest';
import type { EngineContext } from './context.js';
import { longPoll } from './long-poll.js';
import { Notifier } from './notifier.js';

/** A clock that moves 5 ms every time it is read, as a busy server's would between two queries. */
function movingClock(start: number) {
  let t = start;
  return {
    now: () => {
      const value = t;
      t += 5;
      return value;
    },
  };
}

test('a task that becomes visible between the claim and the look-ahead is claimed without waiting out the poll', async () => {
  const start = 1_000_000;
  const visibleAt = start + 3; // after the claim's instant, before the look-ahead's clock reading
  const ctx = { clock: movingClock(start), notifier: new Notifier(), closing: new AbortController().signal };
  const began = Date.now();
  const task = await longPoll({
    ctx: ctx as unknown as EngineContext,
    key: 'k',
    waitMs: 10_000,
    tryClaim: async (now) => (now >= visibleAt ? 'task' : undefined),
    nextVisibleAt: async (now) => (visibleAt > now ? visibleAt : undefined),
  });
  expect(task).toBe('task');
  expect(Date.now() - began).toBeLessThan(1000);
});

test('a notification wakes a waiting poll at once', async () => {
  const notifier = new Notifier();
  const ctx = { clock: { now: () => Date.now() }, notifier, closing: new AbortController().signal };
  let available = false;
  const poll = longPoll({
    ctx: ctx as unknown as EngineContext,
    key: 'queue',
    waitMs: 10_000,
    tryClaim: async () => (available ? 'task' : undefined),
    nextVisibleAt: async () => undefined,
  });
  await new Promise((resolve) => setTimeout(resolve, 20));
  const began = Date.now();
  available = true;
  notifier.emit(['queue']);
  expect(await poll).toBe('task');
  expect(Date.now() - began).toBeLessThan(500);
});
