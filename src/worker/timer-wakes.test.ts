import { describe, expect, test } from 'vitest';
import type { Command, HistoryEvent } from '../protocol/index.js';
import { TimerWakes } from './timer-wakes.js';

/** When a worker's clock for one timer runs out, in ms after `t0`, given the TimerStarted event it got back. */
function ranOutAfter(t0: number, event: { timestamp: number; fireAt: number }): Promise<number> {
  return new Promise((resolve) => {
    const wakes = new TimerWakes(() => resolve(Date.now() - t0));
    const commands: Command[] = [{ type: 'StartTimer', timerId: '1', durationMs: 60_000 }];
    const started = {
      eventId: 5,
      type: 'TimerStarted',
      timestamp: event.timestamp,
      attributes: { timerId: '1', durationMs: 60_000, fireAt: event.fireAt },
    } as HistoryEvent;
    wakes.setAll({ runId: 'r', workflowType: 'w', taskQueue: 'q' }, commands, ['1'], [started]);
  });
}

describe('TimerWakes', () => {
  test('near a zero bound the clocks are taken to agree: the clock runs out at the due time by this one', async () => {
    const t0 = Date.now();
    // Stamped 40 ms before it arrived: the engine's clock is at least 40 ms behind this one, or the event was slow.
    const after = await ranOutAfter(t0, { timestamp: t0 - 40, fireAt: t0 + 300 });
    expect(after).toBeGreaterThanOrEqual(299);
    // Believing the bound would have waited 40 ms more.
    expect(after).toBeLessThan(335);
  });

  test('a bound far below zero is believed: the clock runs out when the engine, far behind, reaches the due time', async () => {
    const t0 = Date.now();
    // The engine's clock is 300 ms behind: due at its t0 + 100, which is this clock's t0 + 400.
    const after = await ranOutAfter(t0, { timestamp: t0 - 300, fireAt: t0 + 100 });
    expect(after).toBeGreaterThanOrEqual(399);
  });

  test('a bound above zero is believed: the engine is ahead, so its due time comes sooner by this clock', async () => {
    const t0 = Date.now();
    // Stamped 200 ms after this clock's now: the engine's clock is at least 200 ms ahead.
    const after = await ranOutAfter(t0, { timestamp: t0 + 200, fireAt: t0 + 500 });
    expect(after).toBeGreaterThanOrEqual(299);
    expect(after).toBeLessThan(450);
  });
});

test('a clock never runs out before its due time by Date.now(), though setTimeout may call back a little early', async () => {
  // setTimeout counts whole milliseconds on the monotonic clock: without the check at the callback, one wake
  // in five of these came before Date.now() reached its due time.
  const count = 300;
  const early: { dueAt: number; ranOutAt: number }[] = [];
  let ranOut = 0;
  await new Promise<void>((resolve) => {
    const dueAt = new Map<string, number>();
    const timerWakes = new TimerWakes((timer) => {
      const ranOutAt = Date.now();
      if (ranOutAt < dueAt.get(timer.timerId)!) early.push({ dueAt: dueAt.get(timer.timerId)!, ranOutAt });
      if (++ranOut === count) resolve();
    });
    for (let i = 0; i < count; i++) {
      // Each set from a callback of its own, as a worker sets them when answers arrive.
      setTimeout(() => {
        const delay = 1 + (i % 20);
        dueAt.set(String(i), Date.now() + delay);
        timerWakes.set({ runId: 'r', workflowType: 'w', taskQueue: 'q', timerId: String(i) }, delay);
      }, i % 7);
    }
  });
  expect(early).toEqual([]);
});
