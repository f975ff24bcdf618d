import { type Queryable, queryEach, type Statement } from './db.js';

/**
 * A look at a task queue after a claim (or instead of one): when its next
 * not-yet-visible task becomes claimable, and whether some task is claimable
 * already (held by a concurrent claim, or of types the poller lacks).
 */
export interface NextVisibleTask {
  at: number | undefined;
  visibleNow: boolean;
}

/** The look's row as PostgreSQL returns it (bigint as text). */
export type NextVisibleRow = { at: string | number | null; visibleNow: boolean };

export function toNextVisible(rows: readonly NextVisibleRow[]): NextVisibleTask {
  const at = rows[0]?.at;
  return { at: at === null || at === undefined ? undefined : Number(at), visibleNow: rows[0]?.visibleNow ?? false };
}

/** What a poll's claim asks for: up to `limit` tasks of these types, visible at `now`, leased to `leaseId`. */
export interface QueueClaim {
  namespace: string;
  taskQueue: string;
  types: readonly string[];
  now: number;
  leaseId: string;
  limit: number;
}

/**
 * Sends a claim and a look at its queue in one message (see `queryEach`).
 * The look runs after the claim, in the same transaction, so it sees the
 * claim's own leases: a claim that took everything visible finds nothing
 * claimable left, and the poll knows the queue is empty without asking again.
 */
export async function claimAndLook<Row>(
  q: Queryable,
  claim: Statement,
  look: Statement,
): Promise<{ claimed: Row[]; queueAfter: NextVisibleTask }> {
  const [claimed, next] = (await queryEach(q, [claim, look])) as [Row[], NextVisibleRow[]];
  return { claimed, queueAfter: toNextVisible(next) };
}
