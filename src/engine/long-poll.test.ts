import { expect, test } from 'vitest';
import type { EngineContext } from './context.js';
import { longPoll } from './long-poll.js';
import { Notifier } from './notifier.js';
import { EmptyQueueHints } from './wake-hints.js';

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

test('a queue a claim found empty is not asked again until it is notified', async () => {
  const notifier = new Notifier();
  const ctx = { clock: { now: () => Date.now() }, notifier, closing: new AbortController().signal };
  let claims = 0;
  let available = false;
  const poll = (waitMs: number) =>
    longPoll({
      ctx: ctx as unknown as EngineContext,
      key: 'w:ns:q',
      hintKey: 'w:ns:q|types',
      waitMs,
      tryClaim: async () => {
        claims++;
        return available ? 'task' : undefined;
      },
      nextVisibleAt: async () => undefined,
    });
  expect(await poll(30)).toBeNull();
  expect(claims).toBe(1); // one look; the wait running out is not a second claim
  expect(await poll(30)).toBeNull();
  expect(await poll(0)).toBeNull();
  expect(claims).toBe(1); // idle re-polls cost no query
  const waiting = poll(5000);
  await new Promise((resolve) => setTimeout(resolve, 20));
  available = true;
  notifier.emit(['w:ns:q']);
  expect(await waiting).toBe('task');
  expect(claims).toBe(2);
  // Another set of types on the same queue has its own memory.
  const other = longPoll({
    ctx: ctx as unknown as EngineContext,
    key: 'w:ns:q',
    hintKey: 'w:ns:q|other-types',
    waitMs: 0,
    tryClaim: async () => 'other',
    nextVisibleAt: async () => undefined,
  });
  expect(await other).toBe('other');
});

test('the memory of an empty queue ends when its next task becomes visible, or after a lost connection', async () => {
  const notifier = new Notifier();
  let offset = 0;
  const ctx = { clock: { now: () => Date.now() + offset }, notifier, closing: new AbortController().signal };
  const dueAt = Date.now() + 60_000; // a backing-off task becomes visible in a minute
  let claims = 0;
  const poll = () =>
    longPoll({
      ctx: ctx as unknown as EngineContext,
      key: 'a:ns:q',
      waitMs: 10,
      tryClaim: async () => {
        claims++;
        return undefined;
      },
      nextVisibleAt: async (now) => (dueAt > now ? dueAt : undefined),
    });
  await poll();
  await poll();
  expect(claims).toBe(1);
  offset = 60_000; // the clock reaches the task's time
  await poll();
  expect(claims).toBe(2);
  await poll();
  expect(claims).toBe(2); // nothing due and nothing notified: known empty again
  notifier.wakeAll(); // e.g. LISTEN reconnected: notifications may have been missed
  await poll();
  expect(claims).toBe(3);
  offset += EmptyQueueHints.MAX_AGE_MS; // and at worst, the memory lapses after a minute
  await poll();
  expect(claims).toBe(4);
});

test('a visible task the claim did not get (a concurrent claim holds it) does not make the queue look empty', async () => {
  const notifier = new Notifier();
  const hints = notifier.emptyQueues;
  const ctx = { clock: { now: () => Date.now() }, notifier, closing: new AbortController().signal };
  const poll = (key: string, visibleNow: boolean) =>
    longPoll({
      ctx: ctx as unknown as EngineContext,
      key,
      waitMs: 10,
      tryClaim: async () => undefined,
      // The other claim's lease, once committed, sends no notification: this poll must look again.
      nextVisibleAt: async () => ({ at: undefined, visibleNow }),
    });
  await poll('w:ns:busy', true);
  await poll('w:ns:idle', false);
  expect(hints.knownEmptyUntil('w:ns:busy', hints.generation('w:ns:busy'), Date.now())).toBeUndefined();
  expect(hints.knownEmptyUntil('w:ns:idle', hints.generation('w:ns:idle'), Date.now())).toBeGreaterThan(Date.now());
});

test('when the empty-queue memory runs out, one poll rechecks the queue while the others wait for it', () => {
  const hints = new EmptyQueueHints();
  const generation = hints.generation('q');
  hints.markEmpty('q', generation, 0, undefined);
  const expiry = EmptyQueueHints.MAX_AGE_MS;
  expect(hints.knownEmptyUntil('q', generation, expiry - 1)).toBe(expiry);
  // Every idle poll wakes at the expiry; the first to ask looks, the rest keep waiting.
  expect(hints.knownEmptyUntil('q', generation, expiry)).toBeUndefined();
  expect(hints.knownEmptyUntil('q', generation, expiry)).toBe(expiry + EmptyQueueHints.RECHECK_GRACE_MS);
  expect(hints.knownEmptyUntil('q', generation, expiry + 1)).toBe(expiry + EmptyQueueHints.RECHECK_GRACE_MS);
  // Its claim found the queue empty again: a fresh minute for everyone.
  hints.markEmpty('q', generation, expiry + 1, undefined);
  expect(hints.knownEmptyUntil('q', generation, expiry + 2)).toBe(expiry + 1 + EmptyQueueHints.MAX_AGE_MS);
  // A recheck that found work is forgotten: the others claim too.
  hints.forget('q');
  expect(hints.knownEmptyUntil('q', generation, expiry + 3)).toBeUndefined();
});

test('a recheck that never reports (its poll failed) lets the others look after the grace', () => {
  const hints = new EmptyQueueHints();
  const generation = hints.generation('q');
  hints.markEmpty('q', generation, 0, undefined);
  const expiry = EmptyQueueHints.MAX_AGE_MS;
  expect(hints.knownEmptyUntil('q', generation, expiry)).toBeUndefined();
  expect(hints.knownEmptyUntil('q', generation, expiry + EmptyQueueHints.RECHECK_GRACE_MS)).toBeUndefined();
});

test('a recheck that finds work wakes the polls waiting for it at once, not after the grace', async () => {
  const notifier = new Notifier();
  const ctx = { clock: { now: () => Date.now() }, notifier, closing: new AbortController().signal };
  const start = Date.now();
  const visibleAt = start + 200; // two backed-off tasks become visible together
  let remaining = 2;
  const poll = () =>
    longPoll({
      ctx: ctx as unknown as EngineContext,
      key: 'queue',
      waitMs: 10_000,
      tryClaim: async (now) => {
        await new Promise((resolve) => setTimeout(resolve, 20)); // a claim takes a while
        if (now < visibleAt || remaining === 0) return undefined;
        remaining--;
        return Date.now() - start;
      },
      nextVisibleAt: async (now) => (now < visibleAt ? { at: visibleAt, visibleNow: false } : undefined),
    });
  const claimedAt = await Promise.all([poll(), poll()]);
  // Both are well before the 2 s grace another recheck would have waited for.
  for (const at of claimedAt) expect(at).toBeLessThan(200 + EmptyQueueHints.RECHECK_GRACE_MS / 2);
});

test('a claim that took everything it saw marks the queue empty: the next poll waits for a notification', async () => {
  const notifier = new Notifier();
  const ctx = { clock: { now: () => Date.now() }, notifier, closing: new AbortController().signal };
  let claims = 0;
  let lookups = 0;
  let tasks = 1;
  // The claim reports how it left the queue: nothing else claimable (or, with `left`, something still is).
  let left = false;
  const poll = (waitMs: number) =>
    longPoll({
      ctx: ctx as unknown as EngineContext,
      key: 'a:ns:q',
      waitMs,
      tryClaim: async (_now, sawQueue) => {
        claims++;
        const task = tasks > 0 ? `task-${tasks--}` : undefined;
        sawQueue({ at: undefined, visibleNow: left });
        return task;
      },
      nextVisibleAt: async () => {
        lookups++;
        return undefined;
      },
    });
  expect(await poll(1000)).toBe('task-1');
  // The worker polls again at once: no claim, no look, until the queue is notified.
  expect(await poll(30)).toBeNull();
  expect(claims).toBe(1);
  tasks = 2;
  const waiting = poll(5000);
  await new Promise((resolve) => setTimeout(resolve, 20));
  expect(claims).toBe(1);
  left = true;
  notifier.emit(['a:ns:q']);
  expect(await waiting).toBe('task-2');
  // This claim saw another task still claimable: the next poll claims again, and gets it.
  expect(await poll(0)).toBe('task-1');
  expect(claims).toBe(3);
  // An empty claim's own look answers for the look-ahead.
  left = false;
  expect(await poll(30)).toBeNull();
  expect(lookups).toBe(0);
});
