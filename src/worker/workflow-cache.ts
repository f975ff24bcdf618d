import type { WorkflowInstance } from '../workflow/instance.js';

/**
 * The sticky cache: recently run workflows kept in memory, so the next task
 * of a run needs only its new events. Least recently used goes first.
 * Correctness never depends on it: a miss replays the full history.
 */
export class WorkflowCache {
  private readonly entries = new Map<string, WorkflowInstance>();
  constructor(private readonly capacity: number) {}

  take(runId: string): WorkflowInstance | undefined {
    const instance = this.entries.get(runId);
    // Removed while in use: a failed task must not leave a half-advanced instance behind.
    this.entries.delete(runId);
    return instance;
  }

  /** The cached copy of a run, left in place and in its place in line. */
  peek(runId: string): WorkflowInstance | undefined {
    return this.entries.get(runId);
  }

  put(runId: string, instance: WorkflowInstance): void {
    if (this.capacity <= 0) return;
    this.entries.delete(runId);
    this.entries.set(runId, instance);
    while (this.entries.size > this.capacity) {
      const oldest = this.entries.keys().next().value;
      if (oldest === undefined) break;
      this.entries.delete(oldest);
    }
  }

  /**
   * Puts a run back unless the cache already holds a copy further along
   * (another task of the run finished while this copy was out).
   */
  putUnlessNewer(runId: string, instance: WorkflowInstance): void {
    const held = this.entries.get(runId);
    if (held && held !== instance && held.lastEventId > instance.lastEventId) return;
    this.put(runId, instance);
  }

  /** False when the capacity is 0: nothing is kept. */
  get enabled(): boolean {
    return this.capacity > 0;
  }

  get size(): number {
    return this.entries.size;
  }
}
