/**
 * Which activity timeout comes next, from the activity's timing alone. The
 * timer service fires at that time, re-checks, and either acts or moves the
 * timer (a heartbeat pushes the heartbeat deadline without touching the timer).
 */
export type ActivityTimeoutType = 'scheduleToStart' | 'startToClose' | 'scheduleToClose' | 'heartbeat';

export interface ActivityTiming {
  leased: boolean;
  visibleAt: number;
  scheduledAt: number;
  startedAt: number | null;
  lastHeartbeatAt: number | null;
  scheduleToStartMs: number | null;
  startToCloseMs: number | null;
  scheduleToCloseMs: number | null;
  heartbeatMs: number | null;
}

export function nextActivityDeadline(t: ActivityTiming): { at: number; type: ActivityTimeoutType } | undefined {
  const candidates: { at: number; type: ActivityTimeoutType }[] = [];
  if (t.scheduleToCloseMs) candidates.push({ at: t.scheduledAt + t.scheduleToCloseMs, type: 'scheduleToClose' });
  if (t.leased && t.startedAt !== null) {
    if (t.startToCloseMs) candidates.push({ at: t.startedAt + t.startToCloseMs, type: 'startToClose' });
    if (t.heartbeatMs) candidates.push({ at: (t.lastHeartbeatAt ?? t.startedAt) + t.heartbeatMs, type: 'heartbeat' });
  } else if (!t.leased && t.scheduleToStartMs) {
    candidates.push({ at: t.visibleAt + t.scheduleToStartMs, type: 'scheduleToStart' });
  }
  let next: { at: number; type: ActivityTimeoutType } | undefined;
  for (const c of candidates) if (!next || c.at < next.at) next = c;
  return next;
}

/** Start-to-close and heartbeat timeouts are retried like failures; the others end the activity. */
export function isRetryableTimeout(type: ActivityTimeoutType): boolean {
  return type === 'startToClose' || type === 'heartbeat';
}
