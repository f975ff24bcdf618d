// Runs a function against a fresh session of a system: its own database
// (PostgreSQL), dropped afterwards; what the session sent, counted by the
// client side and, when asked, by PostgreSQL itself.

import { createBenchDatabase, type DatabaseStats, settledDatabaseStats } from '../support/postgres.js';
import type { SqlCounts } from '../support/sql-counter.js';
import type { BenchSystem, Session, SessionOptions } from '../systems/system.js';

export interface SessionOutcome<T> {
  value: T;
  sql?: SqlCounts | undefined;
  /** pg_stat_database of the session's database after every connection closed. */
  db?: DatabaseStats | undefined;
}

export async function withSession<T>(
  system: BenchSystem,
  options: Omit<SessionOptions, 'databaseUrl'> & { databaseStats?: boolean },
  fn: (session: Session) => Promise<T>,
): Promise<SessionOutcome<T>> {
  const database = system.store === 'postgres' ? await createBenchDatabase(system.databasePrefix) : undefined;
  try {
    const session = await system.open({ ...options, databaseUrl: database?.url });
    let value: T;
    try {
      value = await fn(session);
    } catch (error) {
      await session.close().catch(() => undefined);
      throw error;
    }
    const sql = await session.close();
    const db = options.databaseStats && database ? await settledDatabaseStats(database.name) : undefined;
    return { value, sql, db };
  } finally {
    await database?.drop();
  }
}

/** Runs `tasks` with at most `limit` in flight. */
export async function inBatches<T>(count: number, limit: number, task: (i: number) => Promise<T>): Promise<T[]> {
  const results: T[] = new Array(count);
  let next = 0;
  const lanes = Array.from({ length: Math.min(limit, count) }, async () => {
    while (next < count) {
      const i = next++;
      results[i] = await task(i);
    }
  });
  await Promise.all(lanes);
  return results;
}

/** Run ids unique within a process, so repetitions on one session never collide. */
let sequence = 0;
export function runId(prefix: string): string {
  sequence++;
  return `${prefix}-${process.pid}-${sequence}`;
}
