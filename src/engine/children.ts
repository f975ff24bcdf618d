import type { Failure, NewEvent, Payload, WorkflowStatus } from '../protocol/index.js';
import {
  findRun,
  flagRun,
  listRunningChildren,
  lockRun,
  type Queryable,
  type RunRow,
  readEvents,
  type TimerRow,
} from '../store/index.js';
import type { ChildStart } from './apply-commands.js';
import { closeRun } from './close-run.js';
import { deliverToWorkflow, type EngineContext, numberEvents } from './context.js';
import { createRun } from './start-workflow.js';
import { setTimer } from './timers.js';

/**
 * Child workflows. A parent starts children in the transaction that
 * completes its workflow task (locking parent, then child). A child's
 * outcome travels back through an outbox row (a 'child-closed' timer due at
 * once) so that a closing child never locks its parent: every transition
 * locks runs in the order parent → child, never the other way.
 */
export async function startChildren(
  ctx: EngineContext,
  tx: Queryable,
  parent: RunRow,
  starts: readonly ChildStart[],
  notify: (key: string) => void,
): Promise<NewEvent[]> {
  const events: NewEvent[] = [];
  if (starts.length > 0 && !parent.hasChildren) {
    await flagRun(tx, parent.namespace, parent.runId, 'has_children');
    parent.hasChildren = true;
  }
  for (const start of starts) {
    const existing = await findRun(tx, parent.namespace, start.workflowId);
    if (existing?.status === 'running') {
      events.push({
        type: 'StartChildWorkflowExecutionFailed',
        attributes: { childId: start.childId, workflowId: start.workflowId, cause: 'workflow-already-running' },
      });
      continue;
    }
    const started = await createRun(
      ctx,
      tx,
      parent.namespace,
      {
        workflowId: start.workflowId,
        workflowType: start.workflowType,
        taskQueue: start.taskQueue,
        args: start.input,
        ...(start.executionTimeoutMs !== undefined ? { executionTimeoutMs: start.executionTimeoutMs } : {}),
        ...(start.runTimeoutMs !== undefined ? { runTimeoutMs: start.runTimeoutMs } : {}),
        ...(start.retryPolicy ? { retryPolicy: start.retryPolicy } : {}),
      },
      notify,
      {
        parent: { runId: parent.runId, initiatedEventId: start.initiatedEventId, closePolicy: start.parentClosePolicy },
      },
    );
    events.push({
      type: 'ChildWorkflowExecutionStarted',
      attributes: { childId: start.childId, workflowId: start.workflowId, runId: started.runId },
    });
  }
  return events;
}

/** The parent asked to cancel some of its children: each gets a cancel request. */
export async function requestChildCancellations(
  ctx: EngineContext,
  tx: Queryable,
  parent: RunRow,
  workflowIds: readonly string[],
  notify: (key: string) => void,
): Promise<void> {
  for (const workflowId of workflowIds) {
    const found = await findRun(tx, parent.namespace, workflowId);
    if (found?.parentRunId !== parent.runId || found.status !== 'running') continue;
    const child = await lockRun(tx, parent.namespace, found.runId);
    if (child?.status !== 'running') continue;
    await deliverToWorkflow(ctx, tx, child, [cancelRequested(parent)], notify);
  }
}

function cancelRequested(parent: RunRow): NewEvent {
  return {
    type: 'WorkflowExecutionCancelRequested',
    attributes: { reason: `cancelled by parent workflow ${parent.workflowId}`, identity: parent.workflowId },
  };
}

/** A parent closed: its running children are terminated, asked to cancel, or left alone, by their policy. */
export async function applyParentClosePolicy(
  ctx: EngineContext,
  tx: Queryable,
  parent: RunRow,
  notify: (key: string) => void,
): Promise<void> {
  if (!parent.hasChildren) return;
  for (const found of await listRunningChildren(tx, parent.namespace, parent.runId)) {
    if (found.parentClosePolicy === 'abandon') continue;
    const child = await lockRun(tx, parent.namespace, found.runId);
    if (child?.status !== 'running') continue;
    if (found.parentClosePolicy === 'request-cancel') {
      await deliverToWorkflow(ctx, tx, child, [cancelRequested(parent)], notify);
      continue;
    }
    const now = ctx.clock.now();
    const reason = `parent workflow ${parent.workflowId} closed (${parent.status}) and its parentClosePolicy is terminate`;
    await closeRun(
      ctx,
      tx,
      child,
      numberEvents(child, [{ type: 'WorkflowExecutionTerminated', attributes: { reason, identity: 'tideway' } }], now),
      { status: 'terminated', now, failure: { message: reason, type: 'TerminatedFailure' } },
      notify,
    );
  }
}

/** Queues a closed child's outcome for its parent (delivered by the timer service, in its own transaction). */
export async function reportToParent(
  tx: Queryable,
  child: RunRow,
  close: { status: WorkflowStatus; now: number; result?: Payload | undefined; failure?: Failure | undefined },
  notify: (key: string) => void,
): Promise<void> {
  if (!child.parentRunId || child.parentInitiatedEventId === null) return;
  const outbox: TimerRow = {
    namespace: child.namespace,
    runId: child.parentRunId,
    timerKey: `child/${child.runId}`,
    kind: 'child-closed',
    dueAt: close.now,
    data: {
      initiatedEventId: child.parentInitiatedEventId,
      childWorkflowId: child.workflowId,
      childRunId: child.runId,
      childWorkflowType: child.workflowType,
      status: close.status,
      ...(close.result !== undefined ? { result: close.result } : {}),
      ...(close.failure !== undefined ? { failure: close.failure } : {}),
    },
  };
  await setTimer(tx, outbox, notify);
}

/** Delivers a child's outcome (an outbox row) to its parent, if the parent still runs. */
export async function deliverChildOutcome(
  ctx: EngineContext,
  tx: Queryable,
  parent: RunRow,
  data: Record<string, unknown>,
  notify: (key: string) => void,
): Promise<void> {
  const [initiated] = await readEvents(tx, parent.namespace, parent.runId, Number(data.initiatedEventId), 1);
  if (initiated?.type !== 'StartChildWorkflowExecutionInitiated') return;
  await deliverToWorkflow(ctx, tx, parent, [childOutcomeEvent(initiated.attributes.childId, data)], notify);
}

/** The event that tells a parent how its child ended, from an outbox row's data (see reportToParent). */
export function childOutcomeEvent(childId: string, data: Record<string, unknown>): NewEvent {
  const runId = String(data.childRunId);
  return data.status === 'completed'
    ? {
        type: 'ChildWorkflowExecutionCompleted',
        attributes: { childId, runId, result: (data.result as Payload) ?? { encoding: 'json/plain', data: null } },
      }
    : {
        type: 'ChildWorkflowExecutionFailed',
        attributes: {
          childId,
          runId,
          status: String(data.status),
          failure: {
            message: `child workflow ${String(data.childWorkflowId)} ${String(data.status)}`,
            type: 'ChildWorkflowFailure',
            info: {
              workflowId: data.childWorkflowId,
              runId,
              workflowType: data.childWorkflowType,
              status: data.status,
            },
            cause: (data.failure as Failure | undefined) ?? { message: String(data.status), type: 'Error' },
          },
        },
      };
}
