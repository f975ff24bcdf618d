import { AsyncLocalStorage } from 'node:async_hooks';

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
}

/** The running attempt, as the worker provides it. */
export interface ActivityContext {
  info: ActivityInfo;
  heartbeat(details?: unknown): void;
  /** Aborted when the attempt should stop: the worker shuts down, or the server no longer holds its lease. */
  signal: AbortSignal;
}

export const activityStorage = new AsyncLocalStorage<ActivityContext>();

export function currentActivity(what: string): ActivityContext {
  const context = activityStorage.getStore();
  if (!context) throw new Error(`${what} can only be called from activity code (a function run by a Tideway worker)`);
  return context;
}
