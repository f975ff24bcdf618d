import type { HistoryEvent } from '../protocol/index.js';
import { genericPlan, type Queryable, type Statement, writeLater } from './db.js';

const APPEND_EVENTS_SQL = genericPlan(`INSERT INTO history_events (namespace, run_id, event_id, type, ts, attributes)
     SELECT $1, $2, e.id, e.type, e.ts, e.attributes
     FROM unnest($3::int[], $4::text[], $5::bigint[], $6::jsonb[]) AS e(id, type, ts, attributes)`);

const READ_EVENTS_SQL =
  genericPlan(`SELECT event_id AS "eventId", type, ts AS "timestamp", attributes FROM history_events
     WHERE namespace = $1 AND run_id = $2 AND event_id >= $3::int ORDER BY event_id LIMIT $4::int`);

/** Appends numbered events in one statement; the primary key rejects a duplicate number. */
export async function appendEvents(
  q: Queryable,
  namespace: string,
  runId: string,
  events: readonly HistoryEvent[],
): Promise<void> {
  if (events.length === 0) return;
  await writeLater(q, APPEND_EVENTS_SQL, [
    namespace,
    runId,
    events.map((e) => e.eventId),
    events.map((e) => e.type),
    events.map((e) => e.timestamp),
    events.map((e) => JSON.stringify(e.attributes)),
  ]);
}

/** Events with id >= fromEventId, in order, at most `limit`. */
export async function readEvents(
  q: Queryable,
  namespace: string,
  runId: string,
  fromEventId: number,
  limit: number,
): Promise<HistoryEvent[]> {
  const { sql, params } = readEventsStatement(namespace, runId, fromEventId, limit);
  return q.query<HistoryEvent>(sql, params);
}

/** `readEvents`'s statement, to read several runs' events in one round trip (see `queryEach`). */
export function readEventsStatement(namespace: string, runId: string, fromEventId: number, limit: number): Statement {
  return {
    sql: READ_EVENTS_SQL,
    params: [namespace, runId, fromEventId, limit],
  };
}
