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
