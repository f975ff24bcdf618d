import type { WorkflowTask } from '../protocol/index.js';

/**
 * Polls waiting in this engine for a workflow task, which a start may hand
 * its new run's first task to directly.
 *
 * A start usually happens while a worker's poll sits idle on its queue. The
 * queue path then costs the start's notification coming back through
 * `LISTEN`, a claim transaction and a history read before the worker has
 * the task. Instead, the start takes a waiting poll (so no other start or
 * claim can), inserts its task already leased to it, and once its
 * transaction commits hands the poll the task built from the events it just
 * wrote. If the transaction fails, the poll goes back to waiting. Only a
 * poll of this engine (this server replica, or this process in process
 * mode) can be taken: other replicas' pollers take tasks from the queue.
 */
export class WaitingPolls {
  private readonly byQueue = new Map<string, Set<WaitingPoll>>();
  /** Tasks delivered to polls this way since the engine opened. */
  handedOff = 0;

  /**
   * Registers a poll for the time it waits. `taken` resolves if a start takes
   * it; `leave()` unregisters it and, if a start took it, resolves to the
   * task (or undefined if the start failed and the poll should carry on).
   */
  enter(
    namespace: string,
    taskQueue: string,
    types: readonly string[],
  ): { taken: Promise<void>; leave(): Promise<WorkflowTask | undefined> } {
    const key = queueKey(namespace, taskQueue);
    let polls = this.byQueue.get(key);
    if (!polls) {
      polls = new Set();
      this.byQueue.set(key, polls);
    }
    let markTaken!: () => void;
    const taken = new Promise<void>((resolve) => {
      markTaken = resolve;
    });
    const poll: WaitingPoll = { types: new Set(types), markTaken };
    polls.add(poll);
    return {
      taken,
      leave: () => {
        this.remove(key, poll);
        return poll.outcome ?? Promise.resolve(undefined);
      },
    };
  }

  /** Takes a poll waiting on the queue for this workflow type, if any; the caller must settle it. */
  take(namespace: string, taskQueue: string, workflowType: string): Handoff | undefined {
    const key = queueKey(namespace, taskQueue);
    const polls = this.byQueue.get(key);
    if (!polls) return undefined;
    for (const poll of polls) {
      if (!poll.types.has(workflowType)) continue;
      this.remove(key, poll);
      let settle!: (task: WorkflowTask | undefined) => void;
      poll.outcome = new Promise((resolve) => {
        settle = resolve;
      });
      poll.markTaken();
      let settled = false;
      const once = (task: WorkflowTask | undefined) => {
        if (settled) return;
        settled = true;
        if (task) this.handedOff++;
        settle(task);
      };
      return { deliver: (task) => once(task), cancel: () => once(undefined) };
    }
    return undefined;
  }

  /** Polls waiting now (for tests). */
  get size(): number {
    let n = 0;
    for (const polls of this.byQueue.values()) n += polls.size;
    return n;
  }

  private remove(key: string, poll: WaitingPoll): void {
    const polls = this.byQueue.get(key);
    if (!polls?.delete(poll)) return;
    if (polls.size === 0) this.byQueue.delete(key);
  }
}

/** What a start holds once it took a poll: exactly one of these must be called. */
export interface Handoff {
  /** After the start committed: the poll returns this task. */
  deliver(task: WorkflowTask): void;
  /** The start failed: the poll carries on waiting or claiming. */
  cancel(): void;
}

interface WaitingPoll {
  types: ReadonlySet<string>;
  markTaken(): void;
  /** Set when a start took the poll. */
  outcome?: Promise<WorkflowTask | undefined>;
}

function queueKey(namespace: string, taskQueue: string): string {
  return `${namespace}\u0000${taskQueue}`;
}
