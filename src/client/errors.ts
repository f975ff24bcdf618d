import type { TidewayFailure } from '../protocol/index.js';

/**
 * A workflow run ended without a result (failed or terminated). `cause` is
 * the failure as the workflow raised it: `ApplicationFailure`,
 * `ActivityFailure` (with its own cause), `TerminatedFailure`…
 */
export class WorkflowFailedError extends Error {
  override name = 'WorkflowFailedError';
  declare readonly cause: TidewayFailure;
  constructor(
    message: string,
    readonly workflowId: string,
    readonly runId: string,
    readonly status: string,
    cause: TidewayFailure,
  ) {
    super(message, { cause });
  }
}

/** An update was rejected by the workflow's validator, or its handler failed; `cause` says why. */
export class WorkflowUpdateFailedError extends Error {
  override name = 'WorkflowUpdateFailedError';
  declare readonly cause: TidewayFailure;
  constructor(
    message: string,
    readonly updateId: string,
    /** 'rejected' (validator; nothing recorded) or 'failed' (handler). */
    readonly stage: 'rejected' | 'failed',
    cause: TidewayFailure,
  ) {
    super(message, { cause });
  }
}
