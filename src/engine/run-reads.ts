import { findRunsById, type Queryable, type RunRow } from '../store/index.js';

/** Most runs one statement reads. */
const MAX_BATCH = 500;

interface Waiting {
  namespace: string;
  runId: string;
  waiters: { resolve(run: RunRow | undefined): void; reject(error: unknown): void }[];
}

/**
 * Reads runs by id for those waiting on results, many in one statement.
 * When thousands of clients wait at once (a burst of starts, then a burst
 * of closes), each wake-up would otherwise cost a statement and a round
 * trip of its own. A read asked for while a batch is on its way goes with
 * the next one; one asked for alone goes at once (after the current
 * microtasks), so a single waiter waits no longer than before. The rows are
 * what a read by itself would have returned: each is read after it was
 * asked for.
 */
export class RunReads {
  private queued = new Map<string, Waiting>();
  private busy = false;

  constructor(private readonly db: Queryable) {}

  read(namespace: string, runId: string): Promise<RunRow | undefined> {
    return new Promise((resolve, reject) => {
      const key = `${namespace}\u0000${runId}`;
      let waiting = this.queued.get(key);
      if (!waiting) {
        waiting = { namespace, runId, waiters: [] };
        this.queued.set(key, waiting);
      }
      waiting.waiters.push({ resolve, reject });
      if (!this.busy) {
        this.busy = true;
        queueMicrotask(() => void this.flush());
      }
    });
  }

  /** Sends what is queued, batch after batch, until nothing is. */
  private async flush(): Promise<void> {
    while (this.queued.size > 0) {
      const batch = [...this.queued.values()].slice(0, MAX_BATCH);
      for (const w of batch) this.queued.delete(`${w.namespace}\u0000${w.runId}`);
      await Promise.all([...groupByNamespace(batch)].map(([namespace, group]) => this.readGroup(namespace, group)));
    }
    this.busy = false;
  }

  private async readGroup(namespace: string, group: Waiting[]): Promise<void> {
    try {
      const rows = await findRunsById(
        this.db,
        namespace,
        group.map((w) => w.runId),
      );
      const byId = new Map(rows.map((r) => [r.runId, r] as const));
      for (const w of group) for (const waiter of w.waiters) waiter.resolve(byId.get(w.runId));
    } catch (error) {
      for (const w of group) for (const waiter of w.waiters) waiter.reject(error);
    }
  }
}

function groupByNamespace(batch: Waiting[]): Map<string, Waiting[]> {
  const groups = new Map<string, Waiting[]>();
  for (const w of batch) {
    const group = groups.get(w.namespace);
    if (group) group.push(w);
    else groups.set(w.namespace, [w]);
  }
  return groups;
}
