// Small statistics for benchmark samples: percentiles of durations and the
// median across repetitions.

/** The p-th percentile (nearest rank) of the samples; NaN when there are none. */
export function percentile(samples: readonly number[], p: number): number {
  if (samples.length === 0) return Number.NaN;
  const sorted = [...samples].sort((a, b) => a - b);
  const rank = Math.ceil((p / 100) * sorted.length);
  return sorted[Math.min(sorted.length - 1, Math.max(0, rank - 1))]!;
}

export function median(samples: readonly number[]): number {
  return percentile(samples, 50);
}

/** Rounds for reports: 2 decimals below 100, 1 below 10,000, integers above. */
export function round(value: number): number {
  if (!Number.isFinite(value)) return value;
  const digits = Math.abs(value) < 100 ? 2 : Math.abs(value) < 10_000 ? 1 : 0;
  const factor = 10 ** digits;
  return Math.round(value * factor) / factor;
}

/**
 * The median of each numeric field over repetitions: `[{p50: 3}, {p50: 5}, {p50: 4}]`
 * gives `{p50: 4}`. Non-numeric fields keep the first repetition's value.
 */
export function medianOfRuns<T extends Record<string, unknown>>(runs: readonly T[]): T {
  const first = runs[0];
  if (!first) throw new Error('medianOfRuns needs at least one repetition');
  const out: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(first)) {
    if (typeof value === 'number') out[key] = round(median(runs.map((r) => r[key] as number)));
    else if (typeof value === 'boolean') out[key] = runs.some((r) => r[key] === true);
    else out[key] = value;
  }
  return out as T;
}

/** Milliseconds since the epoch from the monotonic clock, unaffected by workflow-time patches of `Date`. */
export function wallClockMs(): number {
  return performance.timeOrigin + performance.now();
}
