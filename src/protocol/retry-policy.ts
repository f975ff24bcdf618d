import { z } from 'zod';

/** How a failed activity (or workflow task) is retried. Intervals are milliseconds on the wire. */
export const RetryPolicySchema = z
  .object({
    initialIntervalMs: z.number().int().min(1).optional(),
    backoffCoefficient: z.number().min(1).optional(),
    maximumIntervalMs: z.number().int().min(1).optional(),
    /** 0 means unlimited. */
    maximumAttempts: z.number().int().min(0).optional(),
    nonRetryableErrorTypes: z.array(z.string()).optional(),
    /** Fraction of the interval added or removed at random, 0..1. */
    jitter: z.number().min(0).max(1).optional(),
  })
  .meta({ id: 'RetryPolicy' });
export type RetryPolicy = z.infer<typeof RetryPolicySchema>;

export const DEFAULT_RETRY_POLICY: Required<RetryPolicy> = {
  initialIntervalMs: 1000,
  backoffCoefficient: 2,
  maximumIntervalMs: 100_000,
  maximumAttempts: 0,
  nonRetryableErrorTypes: [],
  jitter: 0.1,
};

export function withRetryDefaults(policy: RetryPolicy | undefined): Required<RetryPolicy> {
  const merged = { ...DEFAULT_RETRY_POLICY, ...stripUndefined(policy ?? {}) };
  if (policy?.maximumIntervalMs === undefined) {
    merged.maximumIntervalMs = Math.max(merged.initialIntervalMs * 100, merged.initialIntervalMs);
  }
  return merged;
}

function stripUndefined<T extends object>(value: T): Partial<T> {
  return Object.fromEntries(Object.entries(value).filter(([, v]) => v !== undefined)) as Partial<T>;
}
