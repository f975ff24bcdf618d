import {
  type CancelWorkflowRequest,
  CancelWorkflowRequestSchema,
  type NewEvent,
  type SignalWithStartRequest,
  SignalWithStartRequestSchema,
  type SignalWorkflowRequest,
  SignalWorkflowRequestSchema,
  type StartWorkflowResponse,
  type TerminateWorkflowRequest,
  TerminateWorkflowRequestSchema,
  TidewayApiError,
} from '../protocol/index.js';
import { findRun, isUniqueViolation, lockRun, type Queryable, type RunRow } from '../store/index.js';
import { closeRun } from './close-run.js';
import { checkNamespace, checkPayloadSize, deliverToWorkflow, type EngineContext, numberEvents } from './context.js';
import { parseRequest } from './parse.js';
import { checkWorkflowTypeKnown } from './registered-types.js';
import { alreadyStarted, applyReusePolicy, createRun } from './start-workflow.js';

/**
 * Signals and termination: external events sent to a running workflow. A
 * signal is durable once acknowledged (it is in the history), delivered in
 * the order received; a signal or terminate for a closed run is an error.
 */
async function lockRunning(
  tx: Queryable,
  namespace: string,
  ref: { workflowId: string; runId?: string | undefined },
  action: 'signal' | 'cancel' | 'terminate',
): Promise<RunRow> {
  const found = await findRun(tx, namespace, ref.workflowId, ref.runId);
  if (!found) {
    throw new TidewayApiError(
      'NotFound',
      `workflow "${ref.workflowId}"${ref.runId ? ` run "${ref.runId}"` : ''} not found in namespace "${namespace}"; ` +
        'check the id and namespace',
    );
  }
  const run = await lockRun(tx, namespace, found.runId);
  if (run?.status !== 'running') {
    throw new TidewayApiError(
      'FailedPrecondition',
      `cannot ${action}: workflow "${ref.workflowId}" is not running (status: ${run?.status ?? found.status})` +
        (action === 'signal' ? '; only running workflows take signals (signal-with-start starts a new run)' : ''),
      { workflowId: ref.workflowId, runId: found.runId, status: run?.status ?? found.status },
    );
  }
  return run;
}

function signaled(signalName: string, input: SignalWorkflowRequest['args'], identity: string): NewEvent {
  return { type: 'WorkflowExecutionSignaled', attributes: { signalName, input: input ?? [], identity } };
}

export async function signalWorkflow(
  ctx: EngineContext,
  namespace: string,
  raw: { workflowId: string } & SignalWorkflowRequest,
): Promise<void> {
  checkNamespace(namespace);
  const request = parseRequest(SignalWorkflowRequestSchema, raw, 'signal request');
  checkPayloadSize(ctx, request.args, 'the signal input');
  await ctx.transition(async (tx, notify) => {
    const run = await lockRunning(tx, namespace, { workflowId: raw.workflowId, runId: request.runId }, 'signal');
    await deliverToWorkflow(ctx, tx, run, [signaled(request.signalName, request.args, request.identity)], notify);
  });
}

/**
 * Signals the running run of a workflow id, or — if none is running —
 * starts one (by its reuse policy) with the signal as its first event, in
 * one transaction, so the signal is never lost between the two.
 */
export async function signalWithStart(
  ctx: EngineContext,
  namespace: string,
  raw: SignalWithStartRequest,
): Promise<StartWorkflowResponse> {
  checkNamespace(namespace);
  const request = parseRequest(SignalWithStartRequestSchema, raw, 'signal-with-start request');
  checkPayloadSize(ctx, request.args, 'the workflow input');
  checkPayloadSize(ctx, request.signalArgs, 'the signal input');
  await checkWorkflowTypeKnown(ctx, namespace, request.taskQueue, request.workflowType);
  const event = signaled(request.signalName, request.signalArgs, request.identity);
  const attempt = () =>
    ctx.transition(async (tx, notify) => {
      const latest = await findRun(tx, namespace, request.workflowId);
      if (latest?.status === 'running') {
        const run = await lockRun(tx, namespace, latest.runId);
        if (run?.status === 'running') {
          await deliverToWorkflow(ctx, tx, run, [event], notify);
          return { workflowId: run.workflowId, runId: run.runId, started: false };
        }
      }
      await applyReusePolicy(ctx, tx, namespace, { ...request, idReusePolicy: request.idReusePolicy }, notify);
      return createRun(ctx, tx, namespace, request, notify, { extraEvents: [event] });
    });
  try {
    return await attempt();
  } catch (error) {
    // Another start won the race for the id: its run is running now, so signal it.
    if (!isUniqueViolation(error)) throw error;
    try {
      return await attempt();
    } catch (again) {
      if (isUniqueViolation(again)) throw alreadyStarted(request.workflowId, namespace);
      throw again;
    }
  }
}

/** Records a cancellation request; the workflow's code decides how to wind down. */
export async function cancelWorkflow(
  ctx: EngineContext,
  namespace: string,
  raw: { workflowId: string } & CancelWorkflowRequest,
): Promise<void> {
  checkNamespace(namespace);
  const request = parseRequest(CancelWorkflowRequestSchema, raw, 'cancel request');
  await ctx.transition(async (tx, notify) => {
    const run = await lockRunning(tx, namespace, { workflowId: raw.workflowId, runId: request.runId }, 'cancel');
    await deliverToWorkflow(
      ctx,
      tx,
      run,
      [
        {
          type: 'WorkflowExecutionCancelRequested',
          attributes: { reason: request.reason, identity: request.identity },
        },
      ],
      notify,
    );
  });
}

export async function terminateWorkflow(
  ctx: EngineContext,
  namespace: string,
  raw: { workflowId: string } & TerminateWorkflowRequest,
): Promise<void> {
  checkNamespace(namespace);
  const request = parseRequest(TerminateWorkflowRequestSchema, raw, 'terminate request');
  await ctx.transition(async (tx, notify) => {
    const run = await lockRunning(tx, namespace, { workflowId: raw.workflowId, runId: request.runId }, 'terminate');
    const now = ctx.clock.now();
    const events = numberEvents(
      run,
      [{ type: 'WorkflowExecutionTerminated', attributes: { reason: request.reason, identity: request.identity } }],
      now,
    );
    await closeRun(
      ctx,
      tx,
      run,
      events,
      { status: 'terminated', now, failure: { message: request.reason, type: 'TerminatedFailure' } },
      notify,
    );
  });
}
