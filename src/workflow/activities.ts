import { type Duration, optionalMs, type RetryPolicy, toMs, toPayloads } from '../protocol/index.js';
import { currentWorkflow } from './context.js';

/** Retry policy as workflow code writes it: durations as numbers (ms) or strings ('1s'). */
export interface RetryOptions {
  initialInterval?: Duration;
  backoffCoefficient?: number;
  maximumInterval?: Duration;
  /** 0 or omitted: unlimited (bounded by scheduleToCloseTimeout, if set). */
  maximumAttempts?: number;
  nonRetryableErrorTypes?: string[];
  /** Fraction of each interval randomised, 0..1 (default 0.1). */
  jitter?: number;
}

/** How an activity runs: timeouts, retries and the task queue it goes to. */
export interface ActivityOptions {
  /** Longest one attempt may take (default: scheduleToCloseTimeout, else 10 minutes). */
  startToCloseTimeout?: Duration;
  /** Longest from scheduling to the final result, across all attempts. */
  scheduleToCloseTimeout?: Duration;
  /** Longest the activity may wait for a worker to pick it up, per attempt. */
  scheduleToStartTimeout?: Duration;
  /** An attempt that does not heartbeat this often is considered lost and retried. */
  heartbeatTimeout?: Duration;
  retry?: RetryOptions;
  /** Default: the workflow's own task queue. */
  taskQueue?: string;
}

export type ActivityFunction = (...args: any[]) => Promise<any> | any;
type Awaited2<T> = T extends PromiseLike<infer U> ? U : T;

/** Activities as functions a workflow can call: each call schedules the activity and resolves with its result. */
export type ActivityInterfaceFor<T> = {
  [K in keyof T]: T[K] extends (...args: infer A) => infer R ? (...args: A) => Promise<Awaited2<R>> : never;
};

export function toRetryPolicy(retry: RetryOptions | undefined): RetryPolicy | undefined {
  if (!retry) return undefined;
  return {
    ...(retry.initialInterval !== undefined ? { initialIntervalMs: toMs(retry.initialInterval) } : {}),
    ...(retry.backoffCoefficient !== undefined ? { backoffCoefficient: retry.backoffCoefficient } : {}),
    ...(retry.maximumInterval !== undefined ? { maximumIntervalMs: toMs(retry.maximumInterval) } : {}),
    ...(retry.maximumAttempts !== undefined ? { maximumAttempts: retry.maximumAttempts } : {}),
    ...(retry.nonRetryableErrorTypes ? { nonRetryableErrorTypes: retry.nonRetryableErrorTypes } : {}),
    ...(retry.jitter !== undefined ? { jitter: retry.jitter } : {}),
  };
}

function strip<T extends object>(value: T): T {
  return Object.fromEntries(Object.entries(value).filter(([, v]) => v !== undefined)) as T;
}

/**
 * Runs an activity and waits for its result. `activity` is the function
 * (only its name is used; the worker that runs it has the code) or its
 * registered name. Rejects with `ActivityFailure` when it fails for good.
 */
export function executeActivity<F extends ActivityFunction>(
  activity: F | string,
  args: Parameters<F> | unknown[] = [],
  options: ActivityOptions = {},
): Promise<Awaited2<ReturnType<F>>> {
  const instance = currentWorkflow('executeActivity');
  const activityType = typeof activity === 'string' ? activity : activity.name;
  if (!activityType) throw new TypeError('executeActivity needs a named function or an activity name');
  return instance.scheduleActivity(
    strip({
      activityType,
      taskQueue: options.taskQueue,
      input: toPayloads(args),
      startToCloseTimeoutMs: optionalMs(options.startToCloseTimeout),
      scheduleToCloseTimeoutMs: optionalMs(options.scheduleToCloseTimeout),
      scheduleToStartTimeoutMs: optionalMs(options.scheduleToStartTimeout),
      heartbeatTimeoutMs: optionalMs(options.heartbeatTimeout),
      retryPolicy: toRetryPolicy(options.retry),
    }),
  ) as Promise<Awaited2<ReturnType<F>>>;
}

/**
 * Typed stand-ins for a module of activities: `proxyActivities<typeof
 * activities>(options).greet('x')` schedules activity `greet`. Import the
 * activities module with `import type`, so workflow code never loads it.
 */
export function proxyActivities<T extends object>(options: ActivityOptions = {}): ActivityInterfaceFor<T> {
  return new Proxy({} as ActivityInterfaceFor<T>, {
    get(_target, name) {
      if (typeof name !== 'string') return undefined;
      return (...args: unknown[]) => executeActivity(name, args, options);
    },
  });
}
