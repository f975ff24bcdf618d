import type { Failure } from './failure.js';
import { fromPayloads, toPayloads } from './payload.js';

/**
 * Error classes that cross the wire as `Failure`s and come back as the same
 * classes, with message, type, details, stack and cause chain intact, on
 * every side: workflow, activity, client, in-process or over HTTP.
 */
export class TidewayFailure extends Error {
  override name = 'TidewayFailure';
  /** The stack of the process where the failure was first raised, when it came over the wire. */
  remoteStack: string | undefined;
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
  }
}

/** Options for an application failure: its type, whether retries should stop, and details for the handler. */
export interface ApplicationFailureOptions {
  type?: string;
  nonRetryable?: boolean;
  details?: unknown[];
  cause?: unknown;
}

/**
 * The failure users throw (or receive) on purpose: a type a retry policy or
 * a caller can switch on, `nonRetryable` to stop retries, and details.
 */
export class ApplicationFailure extends TidewayFailure {
  override name = 'ApplicationFailure';
  readonly type: string;
  readonly nonRetryable: boolean;
  readonly details: unknown[];
  constructor(message: string, options: ApplicationFailureOptions = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.type = options.type ?? 'Error';
    this.nonRetryable = options.nonRetryable ?? false;
    this.details = options.details ?? [];
  }
  /** A retryable failure of the given type. */
  static retryable(message: string, type?: string, ...details: unknown[]): ApplicationFailure {
    return new ApplicationFailure(message, { ...(type ? { type } : {}), details });
  }
  /** A failure no retry policy will retry. */
  static nonRetryable(message: string, type?: string, ...details: unknown[]): ApplicationFailure {
    return new ApplicationFailure(message, { ...(type ? { type } : {}), nonRetryable: true, details });
  }
}

/** An activity failed for good (retries exhausted, non-retryable, or timed out); `cause` says why. */
export class ActivityFailure extends TidewayFailure {
  override name = 'ActivityFailure';
  constructor(
    message: string,
    readonly activityType: string,
    readonly activityId: string,
    readonly attempt: number,
    readonly retryState: string,
    cause?: unknown,
  ) {
    super(message, cause === undefined ? undefined : { cause });
  }
}

/** A child workflow ended without a result; `cause` is its failure. */
export class ChildWorkflowFailure extends TidewayFailure {
  override name = 'ChildWorkflowFailure';
  constructor(
    message: string,
    readonly workflowId: string,
    readonly runId: string,
    readonly workflowType: string,
    readonly status: string,
    cause?: unknown,
  ) {
    super(message, cause === undefined ? undefined : { cause });
  }
}

/** A timeout fired; `timeoutType` names which. */
export class TimeoutFailure extends TidewayFailure {
  override name = 'TimeoutFailure';
  constructor(
    message: string,
    readonly timeoutType: string,
    readonly lastHeartbeatDetails?: unknown,
  ) {
    super(message);
  }
}

/** Work was cancelled (a workflow, a scope, an activity); `message` carries the reason. */
export class CancelledFailure extends TidewayFailure {
  override name = 'CancelledFailure';
}

/** True for a cancellation, also when it comes wrapped as the cause of an activity failure. */
export function isCancellation(error: unknown): boolean {
  if (error instanceof CancelledFailure) return true;
  return (
    (error instanceof ActivityFailure || error instanceof ChildWorkflowFailure) &&
    error.cause instanceof CancelledFailure
  );
}

/** The run was terminated; `message` carries the reason. */
export class TerminatedFailure extends TidewayFailure {
  override name = 'TerminatedFailure';
}

/** Converts anything thrown into a wire failure, keeping the cause chain (bounded) and stacks. */
export function errorToFailure(error: unknown, depth = 0): Failure {
  if (error instanceof TidewayFailure) {
    const base: Failure = {
      message: error.message,
      type: error.name,
      ...((error.remoteStack ?? error.stack) ? { stack: error.remoteStack ?? error.stack } : {}),
    };
    if (error instanceof ApplicationFailure) {
      base.type = error.type;
      base.info = { kind: 'application' };
      if (error.nonRetryable) base.nonRetryable = true;
      if (error.details.length > 0) base.details = toPayloads(error.details);
    } else if (error instanceof ActivityFailure) {
      base.info = {
        activityType: error.activityType,
        activityId: error.activityId,
        attempt: error.attempt,
        retryState: error.retryState,
      };
    } else if (error instanceof ChildWorkflowFailure) {
      base.info = {
        workflowId: error.workflowId,
        runId: error.runId,
        workflowType: error.workflowType,
        status: error.status,
      };
    } else if (error instanceof TimeoutFailure) {
      base.info = { timeoutType: error.timeoutType };
      if (error.lastHeartbeatDetails !== undefined) base.details = toPayloads([error.lastHeartbeatDetails]);
    }
    if (error.cause !== undefined && depth < 20) base.cause = errorToFailure(error.cause, depth + 1);
    return base;
  }
  if (error instanceof Error) {
    return {
      message: error.message,
      type: error.name,
      ...(error.stack ? { stack: error.stack } : {}),
      ...(error.cause !== undefined && depth < 20 ? { cause: errorToFailure(error.cause, depth + 1) } : {}),
    };
  }
  return { message: typeof error === 'string' ? error : safeString(error), type: 'Error' };
}

function safeString(value: unknown): string {
  try {
    return JSON.stringify(value) ?? String(value);
  } catch {
    return String(value);
  }
}

/** Rebuilds the error classes from a wire failure; plain errors come back as `ApplicationFailure`. */
export function failureToError(failure: Failure): TidewayFailure {
  const cause = failure.cause ? failureToError(failure.cause) : undefined;
  const info = failure.info ?? {};
  let error: TidewayFailure;
  // An application failure may use any type name, even one of ours; `info.kind` says which it is.
  const kind = info.kind === 'application' ? 'application' : failure.type;
  switch (kind) {
    case 'ActivityFailure':
      error = new ActivityFailure(
        failure.message,
        String(info.activityType ?? ''),
        String(info.activityId ?? ''),
        Number(info.attempt ?? 0),
        String(info.retryState ?? ''),
        cause,
      );
      break;
    case 'ChildWorkflowFailure':
      error = new ChildWorkflowFailure(
        failure.message,
        String(info.workflowId ?? ''),
        String(info.runId ?? ''),
        String(info.workflowType ?? ''),
        String(info.status ?? ''),
        cause,
      );
      break;
    case 'TimeoutFailure':
      error = new TimeoutFailure(failure.message, String(info.timeoutType ?? ''), fromPayloads(failure.details)[0]);
      if (cause) error.cause = cause;
      break;
    case 'TerminatedFailure':
      error = new TerminatedFailure(failure.message, cause ? { cause } : undefined);
      break;
    case 'CancelledFailure':
      error = new CancelledFailure(failure.message, cause ? { cause } : undefined);
      break;
    default:
      error = new ApplicationFailure(failure.message, {
        type: failure.type,
        nonRetryable: failure.nonRetryable ?? false,
        details: fromPayloads(failure.details),
        ...(cause ? { cause } : {}),
      });
  }
  if (failure.stack) {
    error.remoteStack = failure.stack;
    error.stack = failure.stack;
  }
  return error;
}
