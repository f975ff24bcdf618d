import { type Failure, type RetryPolicy, withRetryDefaults } from '../protocol/index.js';

export type RetryDecision =
  | { retry: true; delayMs: number }
  | { retry: false; retryState: 'non-retryable-failure' | 'maximum-attempts-reached' | 'timeout' };

/**
 * Whether a failed attempt is retried, and after how long: exponential
 * backoff from the initial interval, capped, with jitter, never past the
 * schedule-to-close deadline.
 */
export function decideRetry(args: {
  policy: RetryPolicy;
  attempt: number;
  failure: Failure;
  now: number;
  deadline?: number | undefined;
  random: () => number;
}): RetryDecision {
  const policy = withRetryDefaults(args.policy);
  if (args.failure.nonRetryable || policy.nonRetryableErrorTypes.includes(args.failure.type)) {
    return { retry: false, retryState: 'non-retryable-failure' };
  }
  if (policy.maximumAttempts > 0 && args.attempt >= policy.maximumAttempts) {
    return { retry: false, retryState: 'maximum-attempts-reached' };
  }
  const base = Math.min(
    policy.initialIntervalMs * policy.backoffCoefficient ** (args.attempt - 1),
    policy.maximumIntervalMs,
  );
  const delayMs = Math.max(0, Math.round(base * (1 + policy.jitter * (2 * args.random() - 1))));
  if (args.deadline !== undefined && args.now + delayMs >= args.deadline) {
    return { retry: false, retryState: 'timeout' };
  }
  return { retry: true, delayMs };
}
