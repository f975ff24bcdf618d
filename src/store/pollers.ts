import type { Queryable } from './db.js';

export type PollerKind = 'workflow' | 'activity';

export interface PollerRegistration {
  namespace: string;
  taskQueue: string;
  identity: string;
  kind: PollerKind;
  types: string[];
}

/** Remembers that workers polled queues, and which types they can run: one statement for any number. */
export async function recordPollers(q: Queryable, pollers: readonly PollerRegistration[], now: number): Promise<void> {
  if (pollers.length === 0) return;
  await q.query(
    `INSERT INTO pollers (namespace, task_queue, identity, kind, types, last_seen_at)
     SELECT p.namespace, p.task_queue, p.identity, p.kind, p.types::jsonb, $6
     FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[]) AS p(namespace, task_queue, identity, kind, types)
     ON CONFLICT (namespace, task_queue, kind, identity) DO UPDATE SET types = EXCLUDED.types, last_seen_at = EXCLUDED.last_seen_at`,
    [
      pollers.map((p) => p.namespace),
      pollers.map((p) => p.taskQueue),
      pollers.map((p) => p.identity),
      pollers.map((p) => p.kind),
      pollers.map((p) => JSON.stringify(p.types)),
      now,
    ],
  );
}

/** Types registered by workers that polled the queue since `since`. */
export async function recentPollerTypes(
  q: Queryable,
  args: { namespace: string; taskQueue: string; kind: PollerKind; since: number },
): Promise<{ identity: string; types: string[] }[]> {
  return q.query(
    `SELECT identity, types FROM pollers WHERE namespace = $1 AND task_queue = $2 AND kind = $3 AND last_seen_at >= $4`,
    [args.namespace, args.taskQueue, args.kind, args.since],
  );
}
