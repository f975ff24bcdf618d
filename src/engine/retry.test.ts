import { describe, expect, it } from 'vitest';
import type { Failure, RetryPolicy } from '../protocol/index.js';
import { decideRetry } from './retry.js';

const failure: Failure = { message: 'boom', type: 'Error' };
const NOW = 1_700_000_000_000;
/** random() = 0.5 means no jitter either way. */
const middle = () => 0.5;

function delayFor(policy: RetryPolicy, attempt: number, random: () => number = middle): number {
  const decision = decideRetry({ policy, attempt, failure, now: NOW, random });
  if (!decision.retry) throw new Error(`expected a retry, got ${decision.retryState}`);
  return decision.delayMs;
}

describe('decideRetry', () => {
  it('backs off exponentially from the initial interval', () => {
    const policy: RetryPolicy = { initialIntervalMs: 100, backoffCoefficient: 3, jitter: 0 };
    expect([1, 2, 3, 4].map((attempt) => delayFor(policy, attempt))).toEqual([100, 300, 900, 2700]);
  });

  it('uses the defaults (1 s doubling, 10% jitter) when the policy is empty', () => {
    expect([1, 2, 3].map((attempt) => delayFor({}, attempt))).toEqual([1000, 2000, 4000]);
    expect(delayFor({}, 1, () => 0)).toBe(900);
  });

  it('caps the interval at maximumInterval', () => {
    const policy: RetryPolicy = { initialIntervalMs: 1000, backoffCoefficient: 2, maximumIntervalMs: 5000, jitter: 0 };
    expect([1, 2, 3, 4, 5, 30].map((attempt) => delayFor(policy, attempt))).toEqual([
      1000, 2000, 4000, 5000, 5000, 5000,
    ]);
  });

  it('defaults maximumInterval to 100 × the initial interval', () => {
    const policy: RetryPolicy = { initialIntervalMs: 10, jitter: 0 };
    expect(delayFor(policy, 20)).toBe(1000);
  });

  it('keeps jitter within ± jitter × interval, driven by random()', () => {
    const policy: RetryPolicy = { initialIntervalMs: 1000, backoffCoefficient: 2, jitter: 0.25 };
    expect(delayFor(policy, 2, () => 0)).toBe(1500);
    expect(delayFor(policy, 2, () => 0.999_999)).toBe(2500);
    expect(delayFor(policy, 2, () => 0.5)).toBe(2000);
    for (let i = 0; i <= 100; i++) {
      const d = delayFor(policy, 2, () => i / 101);
      expect(d).toBeGreaterThanOrEqual(1500);
      expect(d).toBeLessThanOrEqual(2500);
    }
  });

  it('stops after maximumAttempts, counting the attempt that just failed', () => {
    const policy: RetryPolicy = { maximumAttempts: 3, jitter: 0 };
    expect(decideRetry({ policy, attempt: 1, failure, now: NOW, random: middle }).retry).toBe(true);
    expect(decideRetry({ policy, attempt: 2, failure, now: NOW, random: middle }).retry).toBe(true);
    expect(decideRetry({ policy, attempt: 3, failure, now: NOW, random: middle })).toEqual({
      retry: false,
      retryState: 'maximum-attempts-reached',
    });
  });

  it('retries forever when maximumAttempts is 0', () => {
    const decision = decideRetry({
      policy: { maximumAttempts: 0 },
      attempt: 10_000,
      failure,
      now: NOW,
      random: middle,
    });
    expect(decision.retry).toBe(true);
  });

  it('never retries a failure marked nonRetryable', () => {
    expect(
      decideRetry({ policy: {}, attempt: 1, failure: { ...failure, nonRetryable: true }, now: NOW, random: middle }),
    ).toEqual({ retry: false, retryState: 'non-retryable-failure' });
  });

  it('never retries a failure whose type is listed in nonRetryableErrorTypes', () => {
    const policy: RetryPolicy = { nonRetryableErrorTypes: ['CardDeclined', 'NotFound'] };
    const declined: Failure = { message: 'declined', type: 'CardDeclined' };
    expect(decideRetry({ policy, attempt: 1, failure: declined, now: NOW, random: middle })).toEqual({
      retry: false,
      retryState: 'non-retryable-failure',
    });
    expect(decideRetry({ policy, attempt: 1, failure, now: NOW, random: middle }).retry).toBe(true);
  });

  it('gives up when the next attempt would start at or after the schedule-to-close deadline', () => {
    const policy: RetryPolicy = { initialIntervalMs: 1000, jitter: 0 };
    expect(decideRetry({ policy, attempt: 1, failure, now: NOW, deadline: NOW + 1001, random: middle })).toEqual({
      retry: true,
      delayMs: 1000,
    });
    expect(decideRetry({ policy, attempt: 1, failure, now: NOW, deadline: NOW + 1000, random: middle })).toEqual({
      retry: false,
      retryState: 'timeout',
    });
    expect(decideRetry({ policy, attempt: 1, failure, now: NOW, deadline: NOW - 1, random: middle })).toEqual({
      retry: false,
      retryState: 'timeout',
    });
  });

  it('reports non-retryable before attempts exhausted before timeout', () => {
    const policy: RetryPolicy = { maximumAttempts: 1, nonRetryableErrorTypes: ['Error'] };
    expect(decideRetry({ policy, attempt: 1, failure, now: NOW, deadline: NOW, random: middle })).toMatchObject({
      retryState: 'non-retryable-failure',
    });
    expect(
      decideRetry({ policy: { maximumAttempts: 1 }, attempt: 1, failure, now: NOW, deadline: NOW, random: middle }),
    ).toMatchObject({ retryState: 'maximum-attempts-reached' });
  });
});
