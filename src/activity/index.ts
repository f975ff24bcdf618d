// What activity code imports: facts about the running attempt, heartbeats
// (with details to resume from after a crash), a cancellation signal, and
// live events for people watching (progress, milestones, stdout/stderr).
// Activities themselves are ordinary async functions.
import { CancelledFailure, TASK_EVENT_LIMITS } from '../protocol/index.js';
import { type ActivityContext, type ActivityInfo, currentActivity, type ProgressData } from './context.js';

export { ApplicationFailure, type ApplicationFailureOptions, CancelledFailure } from '../protocol/index.js';
export { CompleteAsyncError } from './complete-async.js';
export {
  type ActivityContext,
  type ActivityEvent,
  type ActivityInfo,
  activityStorage,
  type ProgressData,
} from './context.js';

/** The running attempt: ids, attempt number, deadline, last heartbeat details, task token. */
export function activityInfo(): ActivityInfo {
  return currentActivity('activityInfo').info;
}

/**
 * Reports that the activity is alive, with optional details to resume from:
 * a retry after a crash sees the last details in `activityInfo().heartbeatDetails`.
 * Cheap to call often: the worker sends at most one heartbeat per interval.
 * Rejects with `CancelledFailure` once the attempt should stop (cancellation
 * requested, lease lost, worker shutting down); awaiting it is the easy way
 * to stop at the next checkpoint.
 */
export function heartbeat(details?: unknown): Promise<void> {
  const context = currentActivity('heartbeat');
  context.heartbeat(details);
  return settled(context);
}

/**
 * Reports progress for watchers (`tideway workflow watch` draws a bar):
 * `await progress(40, 100, { unit: 'rows' })`. Only the latest value per
 * send interval goes to the server.
 */
export function progress(
  current: number,
  total?: number,
  options: { unit?: string; [key: string]: unknown } = {},
): Promise<void> {
  const context = currentActivity('progress');
  if (!Number.isFinite(current) || (total !== undefined && !Number.isFinite(total))) {
    return Promise.reject(new TypeError('progress(current, total) takes finite numbers'));
  }
  const { unit, ...rest } = options;
  const summary = `${current}${total !== undefined ? `/${total}` : ''}${unit ? ` ${unit}` : ''}`;
  const data = jsonCopy({ ...rest, current, total, unit }, 'progress data') as ProgressData;
  context.report({ kind: 'progress', message: summary, data });
  return settled(context);
}

/**
 * A named step reached, with optional data (`await milestone('batch', { index: 3 })`).
 * The data is copied as JSON when called; over 64 KiB, or not encodable, it throws.
 */
export function milestone(name: string, data?: unknown): Promise<void> {
  const context = currentActivity('milestone');
  checkSize(name, 'milestone name');
  const copy = data === undefined ? undefined : jsonCopy(data, 'milestone data');
  context.report({ kind: 'milestone', message: name, ...(copy !== undefined ? { data: copy } : {}) });
  return settled(context);
}

/** Text for the run's live output (like a process's stdout); batched and rate-limited per activity. */
export function stdout(text: string): Promise<void> {
  return output('stdout', text);
}

/** Text for the run's live error output. */
export function stderr(text: string): Promise<void> {
  return output('stderr', text);
}

/** An AbortSignal that fires when this attempt should stop; pass it to fetch and friends. */
export function cancellationSignal(): AbortSignal {
  return currentActivity('cancellationSignal').signal;
}

function output(kind: 'stdout' | 'stderr', text: string): Promise<void> {
  const context = currentActivity(kind);
  checkSize(text, `${kind} chunk`);
  if (text.length > 0) context.report({ kind, message: String(text) });
  return settled(context);
}

function checkSize(text: string, what: string): void {
  const bytes = Buffer.byteLength(text);
  if (bytes > TASK_EVENT_LIMITS.maxMessageBytes) {
    throw new RangeError(
      `${what} is ${bytes} bytes, over the ${TASK_EVENT_LIMITS.maxMessageBytes}-byte limit; write it in smaller chunks`,
    );
  }
}

/**
 * Event data as it will be sent, copied now: the worker sends events in
 * batches a little later, and changes made to the object meanwhile must not
 * show. Data the server would refuse fails here, where the caller can see
 * it, instead of taking the rest of its batch down with it.
 */
function jsonCopy(data: unknown, what: string): unknown {
  let json: string | undefined;
  try {
    json = JSON.stringify(data);
  } catch (error) {
    throw new TypeError(`${what} cannot be encoded as JSON (${(error as Error).message}); pass plain JSON values`);
  }
  if (json === undefined) return undefined;
  const bytes = Buffer.byteLength(json);
  if (bytes > TASK_EVENT_LIMITS.maxDataBytes) {
    throw new RangeError(
      `${what} is ${bytes} bytes as JSON, over the ${TASK_EVENT_LIMITS.maxDataBytes}-byte limit; send a summary`,
    );
  }
  return JSON.parse(json);
}

/**
 * Resolves at once, or rejects with CancelledFailure if the attempt should
 * stop. The rejection is marked handled, so a caller that does not await
 * (the old fire-and-forget style) does not crash the process.
 */
function settled(context: ActivityContext): Promise<void> {
  if (!context.signal.aborted) return Promise.resolve();
  const reason = context.signal.reason;
  const failure =
    reason instanceof CancelledFailure
      ? reason
      : new CancelledFailure(reason instanceof Error ? reason.message : 'activity cancelled');
  const promise = Promise.reject(failure);
  promise.catch(() => undefined);
  return promise;
}
