import { expect, test } from 'vitest';
import type { Queryable } from '../store/index.js';
import type { EngineContext } from './context.js';
import { PollerRegistry } from './long-poll.js';

/** Records the poller rows each statement writes. */
function recordingContext(clock: { t: number }) {
  const writes: string[][] = [];
  const db: Pick<Queryable, 'query'> = {
    async query(_sql: string, params?: unknown[]) {
      writes.push((params?.[2] as string[]) ?? []); // the identities written
      return [] as never;
    },
  };
  const ctx = { db, clock: { now: () => clock.t } } as unknown as EngineContext;
  return { ctx, writes };
}

const poll = (identity: string) => ({ taskQueue: 'q', identity, types: ['wf'], waitMs: 30_000 });

test('a new poller is written at once; refreshes of all pollers still polling share one statement', async () => {
  const clock = { t: 0 };
  const { ctx, writes } = recordingContext(clock);
  const registry = new PollerRegistry(ctx);
  for (const id of ['a', 'b', 'c']) await registry.record('ns', poll(id), 'workflow');
  expect(writes).toEqual([['a'], ['b'], ['c']]);
  // Polls within the refresh period write nothing.
  clock.t = 20_000;
  for (const id of ['a', 'b', 'c']) await registry.record('ns', poll(id), 'workflow');
  expect(writes).toHaveLength(3);
  // The first poll after the period refreshes every poller still polling, in one statement.
  clock.t = 31_000;
  await registry.record('ns', poll('b'), 'workflow');
  expect(writes[3]?.sort()).toEqual(['a', 'b', 'c']);
  await registry.record('ns', poll('a'), 'workflow');
  await registry.record('ns', poll('c'), 'workflow');
  expect(writes).toHaveLength(4);
});

test('a change of types is written at once; a poller that stopped polling is no longer refreshed', async () => {
  const clock = { t: 0 };
  const { ctx, writes } = recordingContext(clock);
  const registry = new PollerRegistry(ctx);
  await registry.record('ns', poll('a'), 'workflow');
  await registry.record('ns', poll('gone'), 'workflow');
  await registry.record('ns', { ...poll('a'), types: ['wf', 'other'] }, 'workflow');
  expect(writes).toEqual([['a'], ['gone'], ['a']]);
  // 'gone' has not polled for longer than its wait: its registration is left to age out.
  clock.t = 40_000;
  await registry.record('ns', poll('a'), 'workflow');
  expect(writes[3]).toEqual(['a']);
});
