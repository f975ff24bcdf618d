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
