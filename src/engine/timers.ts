import { type Queryable, type TimerRow, upsertTimer } from '../store/index.js';
import { notifyKeys } from './notifier.js';

/**
 * Sets (or moves) a timer row and tells the timer services when it is due,
 * so a service sleeping past that time wakes for it and one sleeping less
 * long is left alone.
 */
export async function setTimer(tx: Queryable, timer: TimerRow, notify: (key: string) => void): Promise<void> {
  await upsertTimer(tx, timer);
  notify(notifyKeys.timerDue(timer.dueAt));
}
