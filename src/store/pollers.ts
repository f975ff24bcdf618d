import type { Queryable } from './db.js';

export type PollerKind = 'workflow' | 'activity';

/** Remembers that a worker polled a queue and which types it can run. */
export async function recordPoller(
  q: Queryable,
  args: {
    namespace: string;
    taskQueue: string;
    identity: string;
    kind: PollerKind;
    types: readonly string[];
    now: number;
  },
): Promise<void> {
  await q.query(
    `INSERT INTO pollers (namespace, task_queue, identity, kind, types, last_seen_at) VALUES ($1, $2, $3, $4, $5::jsonb, $6)
     ON CONFLICT (namespace, task_queue, kind, identity) DO UPDATE SET types = EXCLUDED.types, last_seen_at = EXCLUDED.last_seen_at`,
    [args.namespace, args.taskQueue, args.identity, args.kind, JSON.stringify(args.types), args.now],
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
