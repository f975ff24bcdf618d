import { genericPlan, type Queryable, type Statement, writeLater } from './db.js';

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
    genericPlan(`INSERT INTO timers (namespace, run_id, timer_key, kind, due_at, data) VALUES ($1, $2, $3, $4, $5, $6::jsonb)
     ON CONFLICT (namespace, run_id, timer_key) DO UPDATE SET due_at = EXCLUDED.due_at, data = EXCLUDED.data`),
    [timer.namespace, timer.runId, timer.timerKey, timer.kind, timer.dueAt, JSON.stringify(timer.data)],
  );
}

export async function deleteTimer(q: Queryable, namespace: string, runId: string, timerKey: string): Promise<void> {
  await writeLater(q, genericPlan('DELETE FROM timers WHERE namespace = $1 AND run_id = $2 AND timer_key = $3'), [
    namespace,
    runId,
    timerKey,
  ]);
}

/**
 * Locks up to `limit` due timers that no other server is firing right now,
 * the earliest first: one statement for a burst of timers falling due together.
 */
export async function claimDueTimers(q: Queryable, now: number, limit: number): Promise<TimerRow[]> {
  return q.query<TimerRow>(
    `SELECT ${COLUMNS} FROM timers WHERE due_at <= $1::bigint ORDER BY due_at LIMIT $2::int FOR UPDATE SKIP LOCKED`,
    [now, limit],
  );
}

/** Locks one timer by its key if it is still there, due, and no other server is firing it. */
export async function claimTimer(
  q: Queryable,
  key: Pick<TimerRow, 'namespace' | 'runId' | 'timerKey'>,
  now: number,
): Promise<TimerRow | undefined> {
  const rows = await q.query<TimerRow>(
    `SELECT ${COLUMNS} FROM timers WHERE namespace = $1 AND run_id = $2 AND timer_key = $3 AND due_at <= $4::bigint
     FOR UPDATE SKIP LOCKED`,
    [key.namespace, key.runId, key.timerKey, now],
  );
  return rows[0];
}

export async function nextTimerDueAt(q: Queryable): Promise<number | undefined> {
  const rows = await q.query<{ at: number | null }>('SELECT min(due_at) AS at FROM timers');
  return rows[0]?.at ?? undefined;
}

/**
 * Takes a workflow's timer off the table if it is due at `now` (by its true
 * due time: `data.fireAt` where the row's own due time includes the grace
 * given to a worker that reports it; see engine/apply-commands.ts). Send it
 * after the run's lock (see `queryEach`); its rows are `TakenTimer`s: one if
 * the timer was due and is now gone, none otherwise.
 */
export function takeDueUserTimerStatement(namespace: string, runId: string, timerKey: string, now: number): Statement {
  return {
    sql: genericPlan(`DELETE FROM timers WHERE namespace = $1 AND run_id = $2 AND timer_key = $3 AND kind = 'user-timer'
      AND COALESCE((data->>'fireAt')::bigint, due_at) <= $4::bigint
      RETURNING data, COALESCE((data->>'fireAt')::bigint, due_at) AS "fireAt"`),
    params: [namespace, runId, timerKey, now],
  };
}

export interface TakenTimer {
  data: Record<string, unknown>;
  fireAt: number;
}

/** When a workflow's timer is truly due (see `takeDueUserTimerStatement`), if it is still set. */
export async function userTimerFireAt(
  q: Queryable,
  namespace: string,
  runId: string,
  timerKey: string,
): Promise<number | undefined> {
  const rows = await q.query<{ fireAt: number }>(
    genericPlan(`SELECT COALESCE((data->>'fireAt')::bigint, due_at) AS "fireAt" FROM timers
      WHERE namespace = $1 AND run_id = $2 AND timer_key = $3 AND kind = 'user-timer'`),
    [namespace, runId, timerKey],
  );
  return rows[0]?.fireAt;
}

/**
 * Gives up the grace every timer a worker promised to report has (see
 * `takeDueUserTimerStatement`): each is due to the timer service at its true
 * due time again. For a clock that skipped ahead (a test environment), which
 * the workers' own clocks know nothing of.
 */
export async function dropTimerWakeGrace(q: Queryable): Promise<void> {
  await q.query(
    `UPDATE timers SET due_at = (data->>'fireAt')::bigint
     WHERE kind = 'user-timer' AND data ? 'fireAt' AND due_at <> (data->>'fireAt')::bigint`,
  );
}
