import type { z } from 'zod';
import type { StartWorkflowRequestSchema } from '../protocol/index.js';
import { expectNewWorkflowId, isWorkflowIdUsed } from '../store/index.js';
import type { EngineContext } from './context.js';
import { type CreatedRun, createRun } from './start-workflow.js';

/** Most starts one transaction takes. */
const MAX_BATCH = 100;
/** Transactions of starts in flight at once: the rest of the pool stays free for the runs' work. */
const MAX_IN_FLIGHT = 2;

type FreshStart = {
  namespace: string;
  request: z.output<typeof StartWorkflowRequestSchema>;
  runId: string;
  leaseFirstTaskAs: string | undefined;
  settle(outcome: { created: CreatedRun | undefined } | { error: unknown }): void;
};

/**
 * Starts of workflow ids that have no runs yet, many in one transaction.
 * When thousands of clients start workflows at once, each start would
 * otherwise be a transaction, a round trip and a commit of its own, and
 * the starts would hold the pool's connections while the runs they create
 * wait for one. A start asked for while this engine's start transactions
 * are all on their way goes with the next one; a lone start goes at once.
 * Each start's guard (`expectNewWorkflowId`) travels ahead of its inserts;
 * if any guard fails (an id has runs) or two starts race for an id, the
 * whole transaction rolls back and each of its starts is retried alone,
 * exactly as it would have run by itself.
 */
export class FreshStarts {
  private readonly queued: FreshStart[] = [];
  private inFlight = 0;
  private flushQueued = false;

  constructor(private readonly ctx: EngineContext) {}

  /** The run, or undefined if the id has runs (the caller then applies its reuse policy). */
  start(
    namespace: string,
    request: FreshStart['request'],
    runId: string,
    leaseFirstTaskAs: string | undefined,
  ): Promise<CreatedRun | undefined> {
    return new Promise((resolve, reject) => {
      this.queued.push({
        namespace,
        request,
        runId,
        leaseFirstTaskAs,
        settle: (outcome) => ('error' in outcome ? reject(outcome.error) : resolve(outcome.created)),
      });
      if (!this.flushQueued) {
        this.flushQueued = true;
        // After the current microtasks: starts made together (a Promise.all of them) go together.
        queueMicrotask(() => {
          this.flushQueued = false;
          this.flush();
        });
      }
    });
  }

  private flush(): void {
    while (this.inFlight < MAX_IN_FLIGHT && this.queued.length > 0) {
      const batch = this.queued.splice(0, MAX_BATCH);
      this.inFlight++;
      void (batch.length === 1 ? this.alone(batch[0]!) : this.together(batch)).finally(() => {
        this.inFlight--;
        this.flush();
      });
    }
  }

  private async together(batch: FreshStart[]): Promise<void> {
    let created: CreatedRun[];
    try {
      created = await this.ctx.transition(async (tx, notify) => {
        const runs: CreatedRun[] = [];
        for (const { namespace, request, runId, leaseFirstTaskAs } of batch) {
          await expectNewWorkflowId(tx, namespace, request.workflowId);
          runs.push(await createRun(this.ctx, tx, namespace, request, notify, { runId, leaseFirstTaskAs }));
        }
        return runs;
      });
    } catch {
      // Nothing was written: each start goes alone, and meets its own outcome (its id has runs, a race, ...).
      await Promise.all(batch.map((start) => this.alone(start)));
      return;
    }
    for (const [i, start] of batch.entries()) start.settle({ created: created[i] });
  }

  private async alone(start: FreshStart): Promise<void> {
    try {
      const created = await this.ctx.transition(async (tx, notify) => {
        await expectNewWorkflowId(tx, start.namespace, start.request.workflowId);
        return createRun(this.ctx, tx, start.namespace, start.request, notify, {
          runId: start.runId,
          leaseFirstTaskAs: start.leaseFirstTaskAs,
        });
      });
      start.settle({ created });
    } catch (error) {
      if (isWorkflowIdUsed(error)) start.settle({ created: undefined });
      else start.settle({ error });
    }
  }
}
