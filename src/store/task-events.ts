import type { TaskEvent, TaskEventKind, TaskEventSource } from '../protocol/index.js';
import { genericPlan, type Queryable, writeLater } from './db.js';

/** A task event before the store numbers it. */
export interface NewTaskEvent {
  source: TaskEventSource;
  kind: TaskEventKind;
  time: number;
  activityId?: string | undefined;
  activityType?: string | undefined;
  attempt?: number | undefined;
  message?: string | undefined;
  data?: unknown;
}

const APPEND_TASK_EVENTS_SQL = genericPlan(`WITH counter AS (
       INSERT INTO task_event_streams AS s (namespace, run_id, last_seq, closed) VALUES ($1, $2, $3, $4)
       ON CONFLICT (namespace, run_id) DO UPDATE SET last_seq = s.last_seq + $3, closed = $4
       WHERE NOT s.closed
       RETURNING last_seq, watched_until
     ),
     appended AS (
       INSERT INTO task_events (namespace, run_id, seq, workflow_id, source, kind, activity_id, activity_type, attempt,
         message, data, created_at)
       SELECT $1, $2, counter.last_seq - $3 + e.ord, $5, e.v->>'source', e.v->>'kind', e.v->>'activityId',
         e.v->>'activityType', (e.v->>'attempt')::int, e.v->>'message', e.v->'data', (e.v->>'time')::bigint
       FROM counter, jsonb_array_elements($6::jsonb) WITH ORDINALITY AS e(v, ord)
       RETURNING seq
     )
     SELECT seq, (SELECT count(pg_notify($7, $8)) FROM counter WHERE counter.watched_until >= $9::bigint) AS woken
     FROM appended`);

const WATCH_SQL = genericPlan(
  'UPDATE task_event_streams SET watched_until = GREATEST(watched_until, $3::bigint) WHERE namespace = $1 AND run_id = $2',
);

/** A run's new task events, and how to wake their watchers on other replicas. */
export interface TaskEventAppend {
  namespace: string;
  runId: string;
  workflowId: string;
  events: readonly NewTaskEvent[];
  /** These are the run's last events. */
  close?: boolean;
  /**
   * The notification that wakes the run's watchers, sent by the statement
   * itself when the stream is watched at `now` (see `watchTaskEvents`).
   */
  wake: { channel: string; key: string; now: number };
}

/**
 * Numbers and stores events of one run in one statement: the run's counter
 * row moves by the number of events (its row lock orders concurrent
 * appenders), then the events go in, and if someone watches the stream the
 * statement notifies them. Returns the seqs given, or undefined when the
 * run's stream is already closed (nothing is stored then).
 */
export async function appendTaskEvents(q: Queryable, args: TaskEventAppend): Promise<number[] | undefined> {
  const { events } = args;
  if (events.length === 0) return [];
  const rows = await q.query<{ seq: string | number }>(APPEND_TASK_EVENTS_SQL, appendParams(args));
  if (rows.length === 0) return undefined;
  return rows.map((r) => Number(r.seq)).sort((a, b) => a - b);
}

/**
 * The same append, for a transition that does not need the seqs back: sent
 * with the transaction's next statement or its COMMIT (see `writeLater`).
 * Nothing is stored if the run's stream is already closed.
 */
export async function appendTaskEventsLater(q: Queryable, args: TaskEventAppend): Promise<void> {
  if (args.events.length === 0) return;
  await writeLater(q, APPEND_TASK_EVENTS_SQL, appendParams(args));
}

function appendParams(args: TaskEventAppend): unknown[] {
  return [
    args.namespace,
    args.runId,
    args.events.length,
    args.close ?? false,
    args.workflowId,
    JSON.stringify(args.events),
    args.wake.channel,
    args.wake.key,
    args.wake.now,
  ];
}

/**
 * Marks a run's stream as watched until `until`: appends before then notify
 * (see `appendTaskEvents`). A watcher marks before it reads, so an append
 * either committed before the mark (the read sees its events) or waits for
 * the mark's row lock and then sees it (and notifies). A run without a stream
 * (from before task events) is not marked; its watchers wait out their time.
 */
export async function watchTaskEvents(q: Queryable, namespace: string, runId: string, until: number): Promise<void> {
  await q.query(WATCH_SQL, [namespace, runId, until]);
}

/** Events of a run with seq > after, in order. */
export async function readTaskEvents(
  q: Queryable,
  namespace: string,
  runId: string,
  after: number,
  limit: number,
): Promise<TaskEvent[]> {
  const rows = await q.query<TaskEventRow>(
    `SELECT seq, workflow_id AS "workflowId", run_id AS "runId", created_at AS "time", source, kind,
       activity_id AS "activityId", activity_type AS "activityType", attempt, message, data
     FROM task_events WHERE namespace = $1 AND run_id = $2 AND seq > $3 ORDER BY seq LIMIT $4`,
    [namespace, runId, after, limit],
  );
  return rows.map(toTaskEvent);
}

/** The run's stream: its last seq and whether its last event has been written. */
export async function getTaskEventStream(
  q: Queryable,
  namespace: string,
  runId: string,
): Promise<{ lastSeq: number; closed: boolean } | undefined> {
  const rows = await q.query<{ lastSeq: string | number; closed: boolean }>(
    `SELECT last_seq AS "lastSeq", closed FROM task_event_streams WHERE namespace = $1 AND run_id = $2`,
    [namespace, runId],
  );
  const row = rows[0];
  return row ? { lastSeq: Number(row.lastSeq), closed: row.closed } : undefined;
}

/** Deletes up to `limit` events older than `before`; returns how many went. */
export async function deleteTaskEventsBefore(q: Queryable, before: number, limit: number): Promise<number> {
  const rows = await q.query(
    `DELETE FROM task_events WHERE (namespace, run_id, seq) IN (
       SELECT namespace, run_id, seq FROM task_events WHERE created_at < $1 LIMIT $2)
     RETURNING 1`,
    [before, limit],
  );
  return rows.length;
}

/**
 * Charges `bytes` of output to the leased attempt's one-minute window.
 * Returns undefined if the lease is not held; else whether the output fits
 * (it is charged only then) and when the window reopens.
 */
export async function chargeActivityOutput(
  q: Queryable,
  args: {
    namespace: string;
    runId: string;
    scheduledEventId: number;
    leaseId: string;
    now: number;
    bytes: number;
    budgetBytes: number;
    windowMs: number;
  },
): Promise<ChargedOutput | undefined> {
  const rows = await q.query<Omit<ChargedOutput, 'windowEndsAt'> & { windowStart: string | number }>(
    `WITH cur AS (
       SELECT CASE WHEN output_window_start + $6 <= $5 THEN $5 ELSE output_window_start END AS start,
              CASE WHEN output_window_start + $6 <= $5 THEN 0 ELSE output_window_bytes END AS used
       FROM activity_tasks
       WHERE namespace = $1 AND run_id = $2 AND scheduled_event_id = $3 AND lease_id = $4
       FOR UPDATE
     )
     UPDATE activity_tasks t SET
       output_window_start = cur.start,
       -- Over budget, the window is marked spent (budget + 1) so only its first drop is announced.
       output_window_bytes = CASE WHEN cur.used + $7 <= $8 THEN cur.used + $7 ELSE GREATEST(cur.used, $8 + 1) END
     FROM cur
     WHERE t.namespace = $1 AND t.run_id = $2 AND t.scheduled_event_id = $3
     RETURNING (cur.used + $7 <= $8) AS allowed, (cur.used + $7 > $8 AND cur.used <= $8) AS "firstDrop",
       cur.start AS "windowStart", t.cancel_requested AS "cancelRequested",
       t.workflow_id AS "workflowId", t.activity_id AS "activityId", t.activity_type AS "activityType", t.attempt`,
    [
      args.namespace,
      args.runId,
      args.scheduledEventId,
      args.leaseId,
      args.now,
      args.windowMs,
      args.bytes,
      args.budgetBytes,
    ],
  );
  const row = rows[0];
  if (!row) return undefined;
  const { windowStart, ...rest } = row;
  return { ...rest, windowEndsAt: Number(windowStart) + args.windowMs };
}

export interface ChargedOutput {
  allowed: boolean;
  /** The first report refused in this window (so one notice is stored, not one per refusal). */
  firstDrop: boolean;
  windowEndsAt: number;
  cancelRequested: boolean;
  workflowId: string;
  activityId: string;
  activityType: string;
  attempt: number;
}

interface TaskEventRow {
  seq: string | number;
  workflowId: string;
  runId: string;
  time: string | number;
  source: TaskEvent['source'];
  kind: TaskEvent['kind'];
  activityId: string | null;
  activityType: string | null;
  attempt: number | null;
  message: string | null;
  data: unknown;
}

function toTaskEvent(row: TaskEventRow): TaskEvent {
  return {
    seq: Number(row.seq),
    workflowId: row.workflowId,
    runId: row.runId,
    time: Number(row.time),
    source: row.source,
    kind: row.kind,
    ...(row.activityId !== null ? { activityId: row.activityId } : {}),
    ...(row.activityType !== null ? { activityType: row.activityType } : {}),
    ...(row.attempt !== null ? { attempt: row.attempt } : {}),
    ...(row.message !== null ? { message: row.message } : {}),
    ...(row.data !== null && row.data !== undefined ? { data: row.data } : {}),
  };
}
