import { contextSlot } from '../protocol/context-slots.js';

/** What an activity can learn about the attempt it is running. */
export interface ActivityInfo {
  namespace: string;
  workflowId: string;
  runId: string;
  workflowType: string;
  activityId: string;
  activityType: string;
  taskQueue: string;
  /** 1 for the first attempt, 2 for the first retry… */
  attempt: number;
  scheduledTime: number;
  startedTime: number;
  /** When this attempt must be done by (ms since epoch), if a timeout bounds it. */
  deadline: number | undefined;
  /** Details from the last heartbeat of a previous attempt: where to resume. */
  heartbeatDetails: unknown;
  heartbeatTimeoutMs: number | undefined;
  /**
   * Names this attempt to the server. Hand it to another system to complete
   * the activity later (throw `CompleteAsyncError` to return without a result).
   */
  taskToken: string;
}

/** A progress, milestone or output event, as the worker batches it to the server. */
export type ActivityEvent =
  | { kind: 'stdout' | 'stderr'; message: string }
  | { kind: 'milestone'; message: string; data?: unknown }
  | { kind: 'progress'; message: string; data: ProgressData };

export interface ProgressData {
  current: number;
  total?: number | undefined;
  unit?: string | undefined;
  [key: string]: unknown;
}

/** The running attempt, as the worker provides it. */
export interface ActivityContext {
  info: ActivityInfo;
  heartbeat(details?: unknown): void;
  /** Queues an event for the attempt's live event stream. */
  report(event: ActivityEvent): void;
  /** Aborted when the attempt should stop: cancellation requested, the lease is lost, or the worker shuts down. */
  signal: AbortSignal;
}

/** The activity attempt the calling code runs in. */
export const activityStorage = contextSlot<ActivityContext>('activity');

export function currentActivity(what: string): ActivityContext {
  const context = activityStorage.getStore();
  if (!context) throw new Error(`${what} can only be called from activity code (a function run by a Tideway worker)`);
  return context;
}
