import type { WorkflowTask } from '../protocol/index.js';

/**
 * Polls waiting in this engine for workflow tasks, which starts may hand
 * their new runs' first tasks to directly.
 *
 * A start usually happens while a worker's poll sits idle on its queue. The
 * queue path then costs the start's notification coming back through
 * `LISTEN`, a claim transaction and a history read before the worker has
 * the task. Instead, the start takes a place in a waiting poll (so no other
 * start or claim can), inserts its task already leased to it, and once its
 * transaction commits hands the poll the task built from the events it just
 * wrote. If the transaction fails, the place is given back (to a start
 * made meanwhile, or the poll carries on waiting). Only a poll of
 * this engine (this server replica, or this process in process mode) can be
 * taken: other replicas' pollers take tasks from the queue.
 *
 * A poll has as many places as it names (`maxHandoffs`, a worker's free
 * slots; else `maxTasks`). Starts made together (a burst, or one
 * `startWorkflows` request) all take places before the poll stops taking
 * them, at the end of the event-loop turn of its first: a hundred starts
 * then reach an idle worker in one answer, instead of one by handoff and
 * ninety-nine by a claim and a history read a transaction later. Several
 * idle polls share a burst: each place taken sends its poll to the back.
 *
 * The poll answers once every start that took a place has settled, but no
 * later than `HANDOFF_GRACE_MS` after its first task was delivered: a start
 * held up (its batch retried alone, a lock waited for) does not keep the
 * others' tasks, leased already, from their worker. Its task, if it comes
 * after the answer, is refused (`deliver` returns false) and the start
 * gives it back to the queue.
 */
/** How long a poll that has tasks waits for the starts still to settle before it answers without them. */
export const HANDOFF_GRACE_MS = 250;

export class WaitingPolls {
  private readonly byQueue = new Map<string, Set<WaitingPoll>>();
  /** Tasks delivered to polls this way since the engine opened. */
  handedOff = 0;

  /**
   * Registers a poll for the time it waits, with room for `places` tasks.
   * `taken` resolves at the end of the turn a start first took a place;
   * `leave()` unregisters the poll and resolves, once every start that took
   * a place has settled (or the grace after a delivery ran out), to the
   * tasks delivered (undefined if none: every start failed, or none came,
   * and the poll should carry on).
   */
  enter(
    namespace: string,
    taskQueue: string,
    types: readonly string[],
    places = 1,
  ): { taken: Promise<void>; leave(): Promise<WorkflowTask[] | undefined> } {
    const key = queueKey(namespace, taskQueue);
    let markTaken!: () => void;
    const taken = new Promise<void>((resolve) => {
      markTaken = resolve;
    });
    const poll: WaitingPoll = {
      types: new Set(types),
      places: Math.max(1, places),
      unsettled: 0,
      delivered: [],
      markTaken,
      firstTaken: false,
      left: false,
      answer: undefined,
      grace: undefined,
      answered: false,
    };
    this.add(key, poll);
    return {
      taken,
      leave: () => {
        this.remove(key, poll);
        poll.left = true;
        if (poll.unsettled === 0) return Promise.resolve(answer(poll));
        return new Promise((resolve) => {
          poll.answer = () => {
            clearTimeout(poll.grace);
            poll.answer = undefined;
            resolve(answer(poll));
          };
          if (poll.delivered.length > 0) startGrace(poll);
        });
      },
    };
  }

  /** Takes a place in a poll waiting on the queue for this workflow type, if any; the caller must settle it. */
  take(namespace: string, taskQueue: string, workflowType: string): Handoff | undefined {
    const key = queueKey(namespace, taskQueue);
    const polls = this.byQueue.get(key);
    if (!polls) return undefined;
    for (const poll of polls) {
      if (!poll.types.has(workflowType)) continue;
      this.remove(key, poll);
      // Back of the line while it has room: the next start goes to the next idle poll.
      if (--poll.places > 0) this.add(key, poll);
      poll.unsettled++;
      if (!poll.firstTaken) {
        poll.firstTaken = true;
        // The poll answers after this turn: starts made in it take their places too. That costs it little,
        // since a task is delivered only once its start's transaction has committed (on PostgreSQL a round
        // trip later; on PGlite, which may commit within the turn, one check phase at most).
        setImmediate(poll.markTaken);
      }
      let settled = false;
      const once = (task: WorkflowTask | undefined): boolean => {
        if (settled) return false;
        settled = true;
        poll.unsettled--;
        if (poll.answered) return false;
        if (task) {
          this.handedOff++;
          poll.delivered.push(task);
        } else if (!poll.left && poll.places++ === 0) {
          // The place is free again: a start made meanwhile may take it.
          this.add(key, poll);
        }
        if (poll.unsettled === 0) poll.answer?.();
        else if (task && poll.left) startGrace(poll);
        return task !== undefined;
      };
      return { deliver: (task) => once(task), cancel: () => void once(undefined) };
    }
    return undefined;
  }

  /** Polls waiting now (for tests). */
  get size(): number {
    let n = 0;
    for (const polls of this.byQueue.values()) n += polls.size;
    return n;
  }

  private add(key: string, poll: WaitingPoll): void {
    let polls = this.byQueue.get(key);
    if (!polls) {
      polls = new Set();
      this.byQueue.set(key, polls);
    }
    polls.add(poll);
  }

  private remove(key: string, poll: WaitingPoll): void {
    const polls = this.byQueue.get(key);
    if (!polls?.delete(poll)) return;
    if (polls.size === 0) this.byQueue.delete(key);
  }
}

/** What a start holds once it took a place: exactly one of these must be called. */
export interface Handoff {
  /**
   * After the start committed: the poll returns this task (with the others
   * it was handed). False if the poll answered without it (its grace ran
   * out): the task is leased to no one, and the caller must give it back.
   */
  deliver(task: WorkflowTask): boolean;
  /** The start failed: the place is given back (a poll handed nothing carries on waiting or claiming). */
  cancel(): void;
}

interface WaitingPoll {
  types: ReadonlySet<string>;
  /** Places not yet taken; at 0 the poll is no longer offered. */
  places: number;
  /** Starts that took a place and have not delivered or cancelled. */
  unsettled: number;
  delivered: WorkflowTask[];
  markTaken(): void;
  firstTaken: boolean;
  /** The poll has left: it answers once `unsettled` reaches 0, or its grace runs out. */
  left: boolean;
  /** Set while the poll has left and waits: answers it. */
  answer: (() => void) | undefined;
  grace: NodeJS.Timeout | undefined;
  /** The poll has answered: a task delivered now is refused. */
  answered: boolean;
}

/** What a poll answers; from then on it takes no task. */
function answer(poll: WaitingPoll): WorkflowTask[] | undefined {
  poll.answered = true;
  return poll.delivered.length > 0 ? poll.delivered : undefined;
}

/** A poll that has left with a task in hand waits this long more for the rest. */
function startGrace(poll: WaitingPoll): void {
  if (poll.grace || !poll.answer) return;
  poll.grace = setTimeout(() => poll.answer?.(), HANDOFF_GRACE_MS);
}

function queueKey(namespace: string, taskQueue: string): string {
  return `${namespace}\u0000${taskQueue}`;
}
