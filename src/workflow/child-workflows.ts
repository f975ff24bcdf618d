import {
  ApplicationFailure,
  type Command,
  type CommandOf,
  failureToError,
  fromPayload,
  type HistoryEventOf,
} from '../protocol/index.js';
import { CancellationScope } from './cancellation-scope.js';

type ChildEvent = HistoryEventOf<
  | 'ChildWorkflowExecutionStarted'
  | 'StartChildWorkflowExecutionFailed'
  | 'ChildWorkflowExecutionCompleted'
  | 'ChildWorkflowExecutionFailed'
>;

interface Child {
  workflowId: string;
  resolveStarted(runId: string): void;
  rejectStarted(error: unknown): void;
  resolveResult(value: unknown): void;
  rejectResult(error: unknown): void;
  release(): void;
}

export interface StartedChild {
  childId: string;
  workflowId: string;
  /** Resolves with the child's run id once it started; rejects if it could not start. */
  started: Promise<string>;
  /** Resolves with the child's result; rejects with ChildWorkflowFailure. */
  result: Promise<unknown>;
}

/**
 * The children a workflow started, and the events that settle them.
 * Cancelling the scope a child was started in asks the child to cancel; its
 * result then arrives when the child ends (usually as cancelled).
 */
export class ChildWorkflows {
  private seq = 0;
  private readonly children = new Map<string, Child>();

  constructor(
    private readonly emit: (command: Command) => void,
    private readonly track: <T>(promise: Promise<T>) => Promise<T>,
  ) {}

  start(
    command: Omit<CommandOf<'StartChildWorkflow'>, 'type' | 'childId' | 'workflowId'> & { workflowId?: string },
    defaultWorkflowId: (seq: number) => string,
  ): StartedChild {
    const childId = String(++this.seq);
    const workflowId = command.workflowId ?? defaultWorkflowId(this.seq);
    const scope = CancellationScope.current();
    if (scope.failure) {
      const rejected = this.track(Promise.reject(scope.failure));
      return { childId, workflowId, started: rejected, result: rejected };
    }
    this.emit({ ...command, type: 'StartChildWorkflow', childId, workflowId });
    let child!: Child;
    const started = this.track(
      new Promise<string>((resolve, reject) => {
        child = { workflowId, resolveStarted: resolve, rejectStarted: reject } as Child;
      }),
    );
    const result = this.track(
      new Promise<unknown>((resolve, reject) => {
        child.resolveResult = resolve;
        child.rejectResult = reject;
      }),
    );
    child.release = scope.onCancel(() => {
      if (this.children.has(childId)) this.emit({ type: 'RequestCancelChildWorkflow', childId, workflowId });
    });
    this.children.set(childId, child);
    return { childId, workflowId, started, result };
  }

  onEvent(event: ChildEvent): void {
    const child = this.children.get(event.attributes.childId);
    if (!child) return;
    switch (event.type) {
      case 'ChildWorkflowExecutionStarted':
        child.resolveStarted(event.attributes.runId);
        return;
      case 'StartChildWorkflowExecutionFailed': {
        const error = new ApplicationFailure(
          `child workflow "${event.attributes.workflowId}" could not start: ${event.attributes.cause}`,
          { type: 'ChildWorkflowStartFailed', nonRetryable: true },
        );
        this.settle(event.attributes.childId, child);
        child.rejectStarted(error);
        child.rejectResult(error);
        return;
      }
      case 'ChildWorkflowExecutionCompleted':
        this.settle(event.attributes.childId, child);
        child.resolveResult(fromPayload(event.attributes.result));
        return;
      case 'ChildWorkflowExecutionFailed':
        this.settle(event.attributes.childId, child);
        child.rejectResult(failureToError(event.attributes.failure));
        return;
    }
  }

  private settle(childId: string, child: Child): void {
    this.children.delete(childId);
    child.release();
  }
}
