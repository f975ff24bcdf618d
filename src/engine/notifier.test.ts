import { expect, test } from 'vitest';
import { Notifier, notifyKeys, QueryHints, queryHintKey } from './notifier.js';

test('a query hint is taken once; a queue never checked since a restart is looked at once', () => {
  const hints = new QueryHints();
  const key = queryHintKey('ns', 'q', 'wf');
  expect(hints.take(key)).toBe(true); // unchecked since start
  expect(hints.take(key)).toBe(false);
  hints.mark(key);
  expect(hints.take(key)).toBe(true);
  expect(hints.take(key)).toBe(false);
  hints.markAll(); // e.g. the LISTEN connection came back: notifications may be lost
  expect(hints.take(key)).toBe(true);
  expect(hints.take(key)).toBe(false);
});

test('a queryQueued notification sets the hint for its queue and workflow type only', () => {
  const notifier = new Notifier();
  const key = queryHintKey('ns', 'q', 'wf');
  const other = queryHintKey('ns', 'q', 'other');
  notifier.queryHints.take(key);
  notifier.queryHints.take(other);
  notifier.emit([notifyKeys.queryQueued('ns', 'q', 'wf')]);
  expect(notifier.queryHints.take(other)).toBe(false);
  expect(notifier.queryHints.take(key)).toBe(true);
});

test('a timer due after the timer service plans to wake does not wake it; an earlier one does', async () => {
  const notifier = new Notifier();
  const subscription = notifier.subscribe(notifyKeys.timers());
  notifier.timerHints.busy();
  expect(notifier.timerHints.plan(10_000)).toBe(10_000);
  notifier.emit([notifyKeys.timerDue(30_000)]); // a deadline far away: left alone
  let woke = false;
  const waiting = subscription.wait(50).then(() => {
    woke = true;
  });
  await new Promise((resolve) => setTimeout(resolve, 10));
  expect(woke).toBe(false);
  notifier.emit([notifyKeys.timerDue(9_999)]);
  await waiting;
  expect(woke).toBe(true);
  subscription.dispose();
});

test('timers hinted while the service is busy move its next wake-up earlier', () => {
  const notifier = new Notifier();
  notifier.timerHints.busy();
  notifier.emit([notifyKeys.timerDue(5_000), notifyKeys.timerDue(7_000)]);
  // The table read may have happened before those timers committed: the plan takes the hint.
  expect(notifier.timerHints.plan(60_000)).toBe(5_000);
  notifier.timerHints.busy(); // a new round forgets hints the last read covered
  expect(notifier.timerHints.plan(60_000)).toBe(60_000);
});

test('a plain timers notification (lost notifications, clock skips) always wakes the service', async () => {
  const notifier = new Notifier();
  const subscription = notifier.subscribe(notifyKeys.timers());
  notifier.timerHints.busy();
  notifier.timerHints.plan(1_000);
  notifier.emit([notifyKeys.timers()]);
  const started = Date.now();
  await subscription.wait(5_000);
  expect(Date.now() - started).toBeLessThan(1_000);
  subscription.dispose();
});
