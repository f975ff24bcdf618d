import type { z } from 'zod';
import type { StartWorkflowRequestSchema } from '../protocol/index.js';
import { expectNewWorkflowId, isWorkflowIdUsed } from '../store/index.js';
import type { EngineContext } from './context.js';
import { type CreatedRun, createRun } from './start-workflow.js';
import { transitionTogether } from './transition-batches.js';

/**
 * A start of a workflow id that has no runs yet: the guard that the id is
 * unused (`expectNewWorkflowId`) travels ahead of the inserts and stops
 * them if it is not, so no look comes first. When thousands of clients
 * start workflows at once, their starts share transactions (see
 * transition-batches.ts): a start whose id has runs, or two starts racing
 * for one id, make their batch write nothing, and each of its starts is
 * retried alone, exactly as it would have run by itself. Resolves with the
 * run, or undefined if the id has runs (the caller then applies its reuse
 * policy).
 */
export async function startFresh(
  ctx: EngineContext,
  namespace: string,
  request: z.output<typeof StartWorkflowRequestSchema>,
  runId: string,
  leaseFirstTaskAs: string | undefined,
): Promise<CreatedRun | undefined> {
  try {
    return await transitionTogether(ctx, 'starts', { namespace, runId }, async (tx, notify) => {
      await expectNewWorkflowId(tx, namespace, request.workflowId);
      return createRun(ctx, tx, namespace, request, notify, { runId, leaseFirstTaskAs });
    });
  } catch (error) {
    if (isWorkflowIdUsed(error)) return undefined;
    throw error;
  }
}
