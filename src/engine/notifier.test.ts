import { describe, expect, test } from 'vitest';
import { isBroadcast, Notifier, notifyKeys, queryHintKey } from './notifier.js';
import { OwnNotifications, QueryHints, TIMER_HINT_HORIZON_MS } from './wake-hints.js';

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

describe("a commit's own notification", () => {
  const key = notifyKeys.workflowQueue('ns', 'q');
  /** A notifier whose queue `key` someone polls. */
  function polled(): Notifier {
    const notifier = new Notifier();
    notifier.emptyQueues.generation(key);
    return notifier;
  }

  test("arriving after the commit was counted, it wakes waiters but keeps a later claim's empty queue", async () => {
    const notifier = polled();
    const hints = notifier.emptyQueues;
    const before = hints.generation(key);
    notifier.committedLocally([key]); // a start committed here: its task is in the queue
    const afterCommit = hints.generation(key);
    expect(afterCommit).not.toBe(before); // a poll asking now claims
    hints.markEmpty(key, afterCommit, 1_000, undefined); // a claim after the commit took the task
    const subscription = notifier.subscribe(key);
    notifier.notificationArrived(key); // the start's own notification, through LISTEN
    await subscription.wait(1_000); // waiters still wake …
    subscription.dispose();
    expect(hints.generation(key)).toBe(afterCommit); // … and the queue stays known empty
    expect(hints.knownEmptyUntil(key, afterCommit, 1_001)).toBeDefined();
    notifier.notificationArrived(key); // another commit's notification is new work
    expect(hints.generation(key)).not.toBe(afterCommit);
  });

  test('arriving before the commit was answered, it counts as new work and the commit is not counted again', () => {
    const notifier = polled();
    const hints = notifier.emptyQueues;
    notifier.notificationArrived(key); // LISTEN won the race with the committing connection
    const afterArrival = hints.generation(key);
    notifier.committedLocally([key]);
    expect(hints.generation(key)).toBe(afterArrival);
    // Nothing is left expected: the next notification, another commit's, is new work.
    notifier.notificationArrived(key);
    expect(hints.generation(key)).not.toBe(afterArrival);
  });

  test('an expectation of a commit whose notification never came runs out; a reconnect drops all', () => {
    const own = new OwnNotifications();
    expect(own.committed(key, 0)).toBe(true);
    expect(own.arrived(key, OwnNotifications.AWAIT_MS + 1)).toBe(false); // too late to be that one
    expect(own.committed(key, 10_000)).toBe(true); // the unexpected one is too old to be this commit's
    own.clear();
    expect(own.arrived(key, 10_001)).toBe(false);
    const notifier = polled();
    notifier.committedLocally([key]);
    notifier.wakeAll(); // the LISTEN connection came back: notifications may be lost
    const before = notifier.emptyQueues.generation(key);
    notifier.notificationArrived(key);
    expect(notifier.emptyQueues.generation(key)).not.toBe(before);
  });
});

describe('a workflow task leased outside the queue (workflowTaskVisibleAt)', () => {
  const queue = notifyKeys.workflowQueue('ns', 'q:1');

  test('shortens the empty-queue memories of its queue, for every set of types, and wakes their polls', async () => {
    const notifier = new Notifier();
    const hints = notifier.emptyQueues;
    const generation = hints.generation(queue);
    hints.markEmpty(`${queue}\u0000a`, generation, 1000, undefined);
    hints.markEmpty(`${queue}\u0000a\u0000b`, generation, 1000, 5000);
    hints.markEmpty(`${notifyKeys.workflowQueue('ns', 'q:2')}\u0000a`, generation, 1000, undefined);
    const subscription = notifier.subscribe(queue);
    const woke = subscription.wait(1000);
    notifier.emit([notifyKeys.workflowTaskVisibleAt('ns', 'q:1', 3000)]);
    await woke;
    expect(hints.knownEmptyUntil(`${queue}\u0000a`, generation, 1001)).toBe(3000);
    expect(hints.knownEmptyUntil(`${queue}\u0000a\u0000b`, generation, 1001)).toBe(3000);
    // Another queue, and the generation (no claim is needed now): untouched.
    expect(hints.knownEmptyUntil(`${notifyKeys.workflowQueue('ns', 'q:2')}\u0000a`, generation, 1001)).toBeGreaterThan(
      3000,
    );
    expect(hints.generation(queue)).toBe(generation);
    subscription.dispose();
  });

  test('a later time than the memory already has changes nothing and wakes nobody', async () => {
    const notifier = new Notifier();
    const generation = notifier.emptyQueues.generation(queue);
    notifier.emptyQueues.markEmpty(`${queue}\u0000a`, generation, 1000, 2000);
    const subscription = notifier.subscribe(queue);
    let woke = false;
    const waiting = subscription.wait(30).then(() => {
      woke = true;
    });
    notifier.committedLocally([notifyKeys.workflowTaskVisibleAt('ns', 'q:1', 9000)]);
    await new Promise((resolve) => setTimeout(resolve, 10));
    expect(woke).toBe(false);
    await waiting;
    expect(notifier.emptyQueues.knownEmptyUntil(`${queue}\u0000a`, generation, 1001)).toBe(2000);
  });
});

test('a commit of this process wakes its waiters at once and marks its query hints before they look', async () => {
  const notifier = new Notifier();
  const hint = queryHintKey('ns', 'q', 'wf');
  notifier.queryHints.take(hint);
  const queue = notifyKeys.workflowQueue('ns', 'q');
  const subscription = notifier.subscribe(queue);
  let hinted: boolean | undefined;
  const waiting = subscription.wait(5000).then(() => {
    hinted = notifier.queryHints.take(hint);
  });
  notifier.committedLocally([notifyKeys.queryQueued('ns', 'q', 'wf'), queue]);
  await waiting;
  expect(hinted).toBe(true);
  subscription.dispose();
});

test('disposing a subscription ends its pending wait', async () => {
  const notifier = new Notifier();
  const subscription = notifier.subscribe('k');
  const started = performance.now();
  const waiting = subscription.wait(10_000);
  subscription.dispose();
  await waiting;
  expect(performance.now() - started).toBeLessThan(1000);
});

test("a wake-up by this process's commit carries the value passed with its key; a notification's does not", async () => {
  const notifier = new Notifier();
  const key = notifyKeys.runClosed('ns', 'r1');
  const first = notifier.subscribe(key);
  notifier.committedLocally([key], new Map([[key, { status: 'completed' }]]));
  await first.wait(1000);
  expect(first.value).toEqual({ status: 'completed' });
  first.dispose();
  const second = notifier.subscribe(key);
  notifier.notificationArrived(key);
  await second.wait(1000);
  expect(second.value).toBeUndefined();
  second.dispose();
});

describe('a commit of this process with a value for a key', () => {
  const key = notifyKeys.runClosed('ns', 'r2');

  test('its notification arriving before COMMIT is answered is left to the answer, which carries the value', async () => {
    const notifier = new Notifier();
    const values = new Map([[key, { status: 'completed' }]]);
    const subscription = notifier.subscribe(key);
    notifier.committing(values);
    notifier.notificationArrived(key);
    let woke = false;
    const waiting = subscription.wait(1000).then(() => {
      woke = true;
    });
    await new Promise((resolve) => setTimeout(resolve, 10));
    expect(woke).toBe(false);
    notifier.committedLocally(values.keys(), values);
    await waiting;
    expect(subscription.value).toEqual({ status: 'completed' });
    subscription.dispose();
    // Answered: the next notification of the key wakes as usual.
    const next = notifier.subscribe(key);
    notifier.notificationArrived(key);
    await next.wait(1000);
    expect(next.value).toBeUndefined();
    next.dispose();
  });

  test('a failed commit wakes the waiters to look for themselves, and expects nothing more', async () => {
    const notifier = new Notifier();
    const values = new Map([[key, { status: 'completed' }]]);
    const subscription = notifier.subscribe(key);
    notifier.committing(values);
    notifier.commitFailed(values);
    await subscription.wait(1000);
    expect(subscription.value).toBeUndefined();
    subscription.dispose();
    // Nothing is expected any more: the next notification of the key wakes at once.
    const next = notifier.subscribe(key);
    notifier.notificationArrived(key);
    const started = performance.now();
    await next.wait(10_000);
    expect(performance.now() - started).toBeLessThan(1000);
    next.dispose();
  });
});

test('a wait says whether it was cut short: by a notification or an abort, not by running out', async () => {
  const notifier = new Notifier();
  const subscription = notifier.subscribe('k');
  expect(await subscription.wait(5)).toBe(false);
  setTimeout(() => notifier.emit(['k']), 5);
  expect(await subscription.wait(5_000)).toBe(true);
  const controller = new AbortController();
  setTimeout(() => controller.abort(), 5);
  expect(await subscription.wait(5_000, controller.signal)).toBe(true);
  subscription.dispose();
});

test('other replicas hear of a timer only if it is due within the horizon; every other key always', () => {
  const now = 1_000_000;
  expect(isBroadcast(notifyKeys.timerDue(now + 1_000), now)).toBe(true);
  expect(isBroadcast(notifyKeys.timerDue(now + TIMER_HINT_HORIZON_MS), now)).toBe(true);
  expect(isBroadcast(notifyKeys.timerDue(now + TIMER_HINT_HORIZON_MS + 1), now)).toBe(false);
  expect(isBroadcast('t:not-a-number', now)).toBe(true);
  expect(isBroadcast(notifyKeys.runClosed('ns', 'r'), now)).toBe(true);
  expect(isBroadcast(notifyKeys.workflowQueue('ns', 'q'), now)).toBe(true);
});
