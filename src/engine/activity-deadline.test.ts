import { describe, expect, it } from 'vitest';
import { type ActivityTiming, isRetryableTimeout, nextActivityDeadline } from './activity-deadline.js';

const T0 = 1_700_000_000_000;

/** An activity scheduled at T0, not yet picked up, with no timeouts. */
function timing(overrides: Partial<ActivityTiming> = {}): ActivityTiming {
  return {
    leased: false,
    visibleAt: T0,
    scheduledAt: T0,
    startedAt: null,
    lastHeartbeatAt: null,
    scheduleToStartMs: null,
    startToCloseMs: null,
    scheduleToCloseMs: null,
    heartbeatMs: null,
    ...overrides,
  };
}

/** What a leased attempt that started at `startedAt` looks like. */
function leased(startedAt: number, overrides: Partial<ActivityTiming> = {}): ActivityTiming {
  return timing({ leased: true, visibleAt: 8_000_000_000_000_000, startedAt, ...overrides });
}

describe('nextActivityDeadline', () => {
  it('has no deadline when no timeout applies', () => {
    expect(nextActivityDeadline(timing())).toBeUndefined();
    // Start-to-close and heartbeat only bound a running attempt.
    expect(nextActivityDeadline(timing({ startToCloseMs: 1000, heartbeatMs: 500 }))).toBeUndefined();
  });

  describe('scheduled (waiting for a worker)', () => {
    it('is bounded by schedule-to-start from when it became visible', () => {
      expect(nextActivityDeadline(timing({ scheduleToStartMs: 5000 }))).toEqual({
        at: T0 + 5000,
        type: 'scheduleToStart',
      });
    });

    it('is bounded by schedule-to-close from when it was scheduled', () => {
      expect(nextActivityDeadline(timing({ scheduleToCloseMs: 60_000 }))).toEqual({
        at: T0 + 60_000,
        type: 'scheduleToClose',
      });
    });

    it('takes the earlier of schedule-to-start and schedule-to-close', () => {
      expect(nextActivityDeadline(timing({ scheduleToStartMs: 5000, scheduleToCloseMs: 60_000 }))).toEqual({
        at: T0 + 5000,
        type: 'scheduleToStart',
      });
      expect(nextActivityDeadline(timing({ scheduleToStartMs: 90_000, scheduleToCloseMs: 60_000 }))).toEqual({
        at: T0 + 60_000,
        type: 'scheduleToClose',
      });
    });
  });

  describe('leased (an attempt is running)', () => {
    const started = T0 + 2000;

    it('is bounded by start-to-close from the attempt start, not by schedule-to-start', () => {
      expect(nextActivityDeadline(leased(started, { startToCloseMs: 10_000, scheduleToStartMs: 1000 }))).toEqual({
        at: started + 10_000,
        type: 'startToClose',
      });
    });

    it('is bounded by the heartbeat timeout from the start when no heartbeat came yet', () => {
      expect(nextActivityDeadline(leased(started, { startToCloseMs: 10_000, heartbeatMs: 3000 }))).toEqual({
        at: started + 3000,
        type: 'heartbeat',
      });
    });

    it('moves the heartbeat deadline with each heartbeat, up to start-to-close', () => {
      const base = leased(started, { startToCloseMs: 10_000, heartbeatMs: 3000 });
      expect(nextActivityDeadline({ ...base, lastHeartbeatAt: started + 2500 })).toEqual({
        at: started + 5500,
        type: 'heartbeat',
      });
      expect(nextActivityDeadline({ ...base, lastHeartbeatAt: started + 8000 })).toEqual({
        at: started + 10_000,
        type: 'startToClose',
      });
    });

    it('is bounded by schedule-to-close when that comes first', () => {
      expect(
        nextActivityDeadline(leased(started, { startToCloseMs: 10_000, heartbeatMs: 3000, scheduleToCloseMs: 2500 })),
      ).toEqual({ at: T0 + 2500, type: 'scheduleToClose' });
    });
  });

  describe('backing off (waiting for the next attempt)', () => {
    const retryAt = T0 + 30_000;
    const backingOff = (overrides: Partial<ActivityTiming>) =>
      timing({ visibleAt: retryAt, lastHeartbeatAt: T0 + 20_000, ...overrides });

    it('counts schedule-to-start from the retry time, per attempt', () => {
      expect(nextActivityDeadline(backingOff({ scheduleToStartMs: 5000, startToCloseMs: 1000 }))).toEqual({
        at: retryAt + 5000,
        type: 'scheduleToStart',
      });
    });

    it('ignores the old attempt’s heartbeat and start-to-close timeouts', () => {
      expect(nextActivityDeadline(backingOff({ startToCloseMs: 1000, heartbeatMs: 1000 }))).toBeUndefined();
    });

    it('keeps schedule-to-close fixed from the first scheduling', () => {
      expect(nextActivityDeadline(backingOff({ scheduleToCloseMs: 45_000, scheduleToStartMs: 60_000 }))).toEqual({
        at: T0 + 45_000,
        type: 'scheduleToClose',
      });
    });
  });
});

describe('isRetryableTimeout', () => {
  it('retries lost attempts (start-to-close, heartbeat) and ends the activity otherwise', () => {
    expect(isRetryableTimeout('startToClose')).toBe(true);
    expect(isRetryableTimeout('heartbeat')).toBe(true);
    expect(isRetryableTimeout('scheduleToStart')).toBe(false);
    expect(isRetryableTimeout('scheduleToClose')).toBe(false);
  });
});
