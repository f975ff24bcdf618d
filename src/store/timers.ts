import { asText, type Queryable, writeLater } from './db.js';

/** Kinds of timer rows: a workflow's own durable timer, an activity's timeouts, a workflow's timeout. */
/** 'child-closed' is an outbox entry: a child's outcome on its way to its parent. */
export type TimerKind = 'user-timer' | 'activity-timeout' | 'workflow-timeout' | 'child-closed';

export interface TimerRow {
  namespace: string;
  runId: string;
  timerKey: string;
  kind: TimerKind;
  dueAt: number;
  data: Record<string, unknown>;
}

const COLUMNS = `namespace, run_id AS "runId", timer_key AS "timerKey", kind, due_at AS "dueAt", data`;

/** Inserts a timer, or moves an existing one with the same key. */
export async function upsertTimer(q: Queryable, timer: TimerRow): Promise<void> {
  await writeLater(
    q,
    `INSERT INTO timers (namespace, run_id, timer_key, kind, due_at, data) VALUES ($1, $2, $3, $4, $5, $6::jsonb)
     ON CONFLICT (namespace, run_id, timer_key) DO UPDATE SET due_at = EXCLUDED.due_at, data = EXCLUDED.data`,
    [timer.namespace, timer.runId, timer.timerKey, timer.kind, timer.dueAt, JSON.stringify(timer.data)],
  );
}

export async function deleteTimer(q: Queryable, namespace: string, runId: string, timerKey: string): Promise<void> {
  await writeLater(q, 'DELETE FROM timers WHERE namespace = $1 AND run_id = $2 AND timer_key = $3', [
    namespace,
    runId,
    timerKey,
  ]);
}

export async function deleteRunTimers(q: Queryable, namespace: string, runId: string): Promise<void> {
  await writeLater(q, 'DELETE FROM timers WHERE namespace = $1 AND run_id = $2', [namespace, runId]);
}

/** Locks one due timer that no other server is firing right now. */
export async function claimDueTimer(q: Queryable, now: number): Promise<TimerRow | undefined> {
  const rows = await q.query<TimerRow>(
    `SELECT ${COLUMNS} FROM timers WHERE due_at <= $1::bigint ORDER BY due_at LIMIT 1 FOR UPDATE SKIP LOCKED`,
    [asText(now)], // text, so BEGIN travels with it (see asText)
  );
  return rows[0];
}

export async function nextTimerDueAt(q: Queryable): Promise<number | undefined> {
  const rows = await q.query<{ at: number | null }>('SELECT min(due_at) AS at FROM timers');
  return rows[0]?.at ?? undefined;
}
