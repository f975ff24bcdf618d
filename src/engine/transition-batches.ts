import type { Queryable } from '../store/index.js';
import type { EngineContext, Notify } from './context.js';

/** Transactions of one kind of batched transitions in flight at once: the rest of the pool stays free. */
const MAX_IN_FLIGHT = 2;

/**
 * The kinds of transitions batched, each with its own batches: starts of
 * new workflow ids (see fresh-starts.ts), and completions of tasks. With
 * the most transitions one transaction of the kind takes.
 */
const MAX_BATCH = { starts: 100, completions: 50 } as const;
export type BatchKind = keyof typeof MAX_BATCH;

type Transition<T> = (tx: Queryable, notify: Notify) => Promise<T>;

interface Queued {
  /** The run the transition changes: a batch locks its runs in this order. */
  runKey: string;
  fn: Transition<unknown>;
  resolve(value: unknown): void;
  reject(error: unknown): void;
}

/**
 * Transitions of different runs, many in one transaction. Under load (a
 * burst of workflows) every start and every completion would otherwise be
 * a transaction of its own: its BEGIN, COMMIT and NOTIFY, a round trip, a
 * commit record and a wait for the WAL to reach disk, and many of them
 * holding the pool's connections at once. A transition asked for while this
 * engine's transactions of its kind are all on their way goes with the next
 * one; a lone transition goes at once, as before.
 *
 * The transitions of a batch run one after the other on the same
 * transaction, in the order of their runs' ids: two batches (say, of two
 * replicas) lock the runs they share in the same order, so they cannot
 * deadlock each other. If any of them fails (a guard finds its run changed,
 * a lease is gone, an id is taken, a lock wait deadlocks with some other
 * transaction), the transaction writes nothing, and each transition runs
 * again in a transaction of its own, meeting exactly the outcome it would
 * have met alone. A run's completions on this engine take turns (see
 * `KnownRuns.inTurn`), so a batch holds at most one transition of a run.
 * The price: a transition's answer waits for its whole batch to commit.
 */
export class TransitionBatches {
  private readonly queued: Queued[] = [];
  private inFlight = 0;
  private flushQueued = false;

  constructor(
    private readonly ctx: Pick<EngineContext, 'transition'>,
    private readonly maxBatch: number,
  ) {}

  /** Runs `fn`, a transition of one run, in a transaction possibly shared with others asked for meanwhile. */
  run<T>(runKey: string, fn: Transition<T>): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      this.queued.push({ runKey, fn, resolve: resolve as (value: unknown) => void, reject });
      if (!this.flushQueued) {
        this.flushQueued = true;
        // After the current microtasks: completions that arrive together go together.
        queueMicrotask(() => {
          this.flushQueued = false;
          this.flush();
        });
      }
    });
  }

  private flush(): void {
    while (this.inFlight < MAX_IN_FLIGHT && this.queued.length > 0) {
      const batch = this.queued.splice(0, this.maxBatch);
      this.inFlight++;
      void (batch.length === 1 ? this.alone(batch[0]!) : this.together(batch)).finally(() => {
        this.inFlight--;
        this.flush();
      });
    }
  }

  private async together(batch: Queued[]): Promise<void> {
    batch.sort((a, b) => (a.runKey < b.runKey ? -1 : a.runKey > b.runKey ? 1 : 0));
    let values: unknown[];
    try {
      values = await this.ctx.transition(async (tx, notify) => {
        const out: unknown[] = [];
        for (const { fn } of batch) out.push(await fn(tx, notify));
        return out;
      });
    } catch {
      // Nothing was written: each transition goes alone, and meets its own outcome.
      await Promise.all(batch.map((queued) => this.alone(queued)));
      return;
    }
    for (const [i, queued] of batch.entries()) queued.resolve(values[i]);
  }

  private async alone(queued: Queued): Promise<void> {
    try {
      queued.resolve(await this.ctx.transition(queued.fn));
    } catch (error) {
      queued.reject(error);
    }
  }
}

const batchesByContext = new WeakMap<object, Map<BatchKind, TransitionBatches>>();

/**
 * `ctx.transition(fn)` for a transition of one run (`namespace`, `runId`),
 * sharing its transaction with other runs' transitions of the same kind
 * asked for meanwhile.
 */
export function transitionTogether<T>(
  ctx: EngineContext,
  kind: BatchKind,
  run: { namespace: string; runId: string },
  fn: Transition<T>,
): Promise<T> {
  let byKind = batchesByContext.get(ctx);
  if (!byKind) {
    byKind = new Map();
    batchesByContext.set(ctx, byKind);
  }
  let batches = byKind.get(kind);
  if (!batches) {
    batches = new TransitionBatches(ctx, MAX_BATCH[kind]);
    byKind.set(kind, batches);
  }
  return batches.run(`${run.namespace}\u001f${run.runId}`, fn);
}
