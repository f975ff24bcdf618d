import { timingSafeEqual } from 'node:crypto';
import type { Engine } from '../engine/index.js';

// Checks both ways of serving a request share (the framework routes in app.ts, the direct ones in
// direct-routes.ts), so they answer alike.

/** Whether an Authorization header carries the expected bearer token (compared in constant time). */
export function tokenMatches(expected: string, header: string | undefined): boolean {
  const expectedBytes = Buffer.from(expected);
  const value = header ?? '';
  const given = Buffer.from(value.startsWith('Bearer ') ? value.slice(7) : '');
  return given.length === expectedBytes.length && timingSafeEqual(given, expectedBytes);
}

/**
 * The worker hung up while its poll claimed: hands the tasks to the next
 * poller instead of losing them to a lease timeout. True if it did.
 */
export async function releasedForGoneWorker(
  engine: Engine,
  namespace: string,
  polled: { task: { taskToken: string } | null; moreTasks?: { taskToken: string }[] },
  signal: AbortSignal,
): Promise<boolean> {
  if (!polled.task || !signal.aborted) return false;
  // Each on its own: one failed release must not leave the others waiting out their leases.
  const tasks = [polled.task, ...(polled.moreTasks ?? [])];
  const released = await Promise.allSettled(tasks.map((task) => engine.releaseTask(namespace, task.taskToken)));
  for (const outcome of released) {
    if (outcome.status === 'rejected') console.error('[tideway server] could not release a task', outcome.reason);
  }
  return true;
}
