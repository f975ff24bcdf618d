import { type Duration, optionalMs, type ParentClosePolicy, toPayloads } from '../protocol/index.js';
import { type RetryOptions, toRetryPolicy } from './activities.js';
import { currentWorkflow } from './context.js';

type AnyWorkflow = (...args: any[]) => Promise<any>;
type ResultOf<W> = W extends (...args: any[]) => Promise<infer R> ? R : unknown;
type ArgsOf<W> = W extends (...args: infer A) => any ? A : unknown[];

/** How a child workflow runs. */
export interface ChildWorkflowOptions<A extends unknown[] = unknown[]> {
  /** Default: the parent's id followed by `/child-N`, so it is the same on every replay. */
  workflowId?: string;
  /** Default: the parent's task queue. */
  taskQueue?: string;
  args?: A;
  /**
   * What happens to the child if the parent closes first: 'terminate'
   * (default), 'request-cancel', or 'abandon' (it runs on).
   */
  parentClosePolicy?: ParentClosePolicy;
  executionTimeout?: Duration;
  runTimeout?: Duration;
  /** Retries of the child workflow when a run of it fails (none by default). */
  retry?: RetryOptions;
}

/** A started child: wait for its result (it rejects with ChildWorkflowFailure). */
export interface ChildWorkflowHandle<R> {
  readonly workflowId: string;
  readonly firstExecutionRunId: string;
  result(): Promise<R>;
}

/**
 * Starts a child workflow and resolves once it has started. Cancelling the
 * scope it was started in asks the child to cancel.
 */
export async function startChild<W extends AnyWorkflow>(
  workflow: W | string,
  options: ChildWorkflowOptions<ArgsOf<W>> = {},
): Promise<ChildWorkflowHandle<ResultOf<W>>> {
  const instance = currentWorkflow('startChild');
  const workflowType = typeof workflow === 'string' ? workflow : workflow.name;
  if (!workflowType) throw new TypeError('startChild needs a named workflow function or a workflow name');
  const child = instance.childWorkflows.start(
    {
      workflowType,
      ...(options.workflowId ? { workflowId: options.workflowId } : {}),
      ...(options.taskQueue ? { taskQueue: options.taskQueue } : {}),
      input: toPayloads(options.args ?? []),
      parentClosePolicy: options.parentClosePolicy ?? 'terminate',
      ...(options.executionTimeout !== undefined ? { executionTimeoutMs: optionalMs(options.executionTimeout) } : {}),
      ...(options.runTimeout !== undefined ? { runTimeoutMs: optionalMs(options.runTimeout) } : {}),
      ...(options.retry ? { retryPolicy: toRetryPolicy(options.retry) } : {}),
    },
    (seq) => `${instance.info.workflowId}/child-${seq}`,
  );
  const runId = await child.started;
  return {
    workflowId: child.workflowId,
    firstExecutionRunId: runId,
    result: () => child.result as Promise<ResultOf<W>>,
  };
}

/** Starts a child workflow and waits for its result. */
export async function executeChild<W extends AnyWorkflow>(
  workflow: W | string,
  options: ChildWorkflowOptions<ArgsOf<W>> = {},
): Promise<ResultOf<W>> {
  const handle = await startChild(workflow, options);
  return handle.result();
}
