/**
 * Durations: a number of milliseconds, or a string such as '100ms', '1.5s',
 * '10m', '2 minutes', '7 days'. On the wire they are always milliseconds.
 */
export type Duration = number | string;

const UNIT_MS: Record<string, number> = {
  ms: 1,
  msec: 1,
  msecs: 1,
  millisecond: 1,
  milliseconds: 1,
  s: 1000,
  sec: 1000,
  secs: 1000,
  second: 1000,
  seconds: 1000,
  m: 60_000,
  min: 60_000,
  mins: 60_000,
  minute: 60_000,
  minutes: 60_000,
  h: 3_600_000,
  hr: 3_600_000,
  hrs: 3_600_000,
  hour: 3_600_000,
  hours: 3_600_000,
  d: 86_400_000,
  day: 86_400_000,
  days: 86_400_000,
  w: 604_800_000,
  week: 604_800_000,
  weeks: 604_800_000,
};

/** Milliseconds for a duration; throws a TypeError that shows the accepted forms. */
export function toMs(duration: Duration): number {
  if (typeof duration === 'number') {
    if (!Number.isFinite(duration) || duration < 0) {
      throw new TypeError(`invalid duration ${duration}: use a non-negative number of milliseconds`);
    }
    return Math.round(duration);
  }
  const match = /^\s*(\d+(?:\.\d+)?)\s*([a-zA-Z]*)\s*$/.exec(duration);
  const unit = match?.[2] ? match[2].toLowerCase() : 'ms';
  const factor = UNIT_MS[unit];
  if (!match || factor === undefined) {
    throw new TypeError(
      `invalid duration "${duration}": use milliseconds or a string like '100ms', '1.5s', '10m', '2 hours', '7 days'`,
    );
  }
  return Math.round(Number(match[1]) * factor);
}

export function optionalMs(duration: Duration | undefined): number | undefined {
  return duration === undefined ? undefined : toMs(duration);
}
