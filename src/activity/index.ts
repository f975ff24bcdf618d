// What activity code imports: facts about the running attempt, heartbeats
// (with details to resume from after a crash), and a cancellation signal.
// Activities themselves are ordinary async functions.
import { type ActivityInfo, currentActivity } from './context.js';

export { ApplicationFailure, type ApplicationFailureOptions } from '../protocol/index.js';
export { type ActivityContext, type ActivityInfo, activityStorage } from './context.js';

/** The running attempt: ids, attempt number, deadline, last heartbeat details. */
export function activityInfo(): ActivityInfo {
  return currentActivity('activityInfo').info;
}

/**
 * Reports that the activity is alive, with optional progress details. A
 * retry after a crash sees the last details in `activityInfo().heartbeatDetails`.
 * Calls are cheap: the worker batches them to the server.
 */
export function heartbeat(details?: unknown): void {
  currentActivity('heartbeat').heartbeat(details);
}

/** An AbortSignal that fires when this attempt should stop; pass it to fetch and friends. */
export function cancellationSignal(): AbortSignal {
  return currentActivity('cancellationSignal').signal;
}
