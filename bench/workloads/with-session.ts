// Runs a function against a fresh session of a system: its own database
// (PostgreSQL), dropped afterwards; what the session sent, counted by the
// client side and, when asked, by PostgreSQL itself.

import { createBenchDatabase, type DatabaseStats, settledDatabaseStats } from '../support/postgres.js';
import type { SqlCounts } from '../support/sql-counter.js';
import type { BenchSystem, Session, SessionOptions } from '../systems/system.js';
import type { Trial, WorkloadResult } from './workload.js';

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
  const opened = await openSession(system, options);
  let value: T;
  try {
    value = await fn(opened.session);
  } catch (error) {
    await opened.close().catch(() => undefined);
    throw error;
  }
  return { value, ...(await opened.close()) };
}

/** A session kept open across calls (a timed workload's rounds); `close` also drops its database. */
export async function openSession(
  system: BenchSystem,
  options: Omit<SessionOptions, 'databaseUrl'> & { databaseStats?: boolean },
): Promise<{ session: Session; close(): Promise<Omit<SessionOutcome<never>, 'value'>> }> {
  const database = system.store === 'postgres' ? await createBenchDatabase(system.databasePrefix) : undefined;
  let session: Session;
  try {
    session = await system.open({ ...options, databaseUrl: database?.url });
  } catch (error) {
    await database?.drop();
    throw error;
  }
  return {
    session,
    async close() {
      try {
        const sql = await session.close();
        const db = options.databaseStats && database ? await settledDatabaseStats(database.name) : undefined;
        return { sql, db };
      } finally {
        await database?.drop();
      }
    },
  };
}

/**
 * Warms a session: `once` at least `times` times and for at least `ms`
 * milliseconds, whichever takes longer.
 */
export async function warmUp(times: number, ms: number, once: (i: number) => Promise<unknown>): Promise<void> {
  const until = performance.now() + ms;
  for (let i = 0; i < times || performance.now() < until; i++) await once(i);
}

/**
 * A timed workload's trial: a session opened and warmed by `warm` for at
 * least `warmupMs`, measured by `once` each round. Each round is preceded by
 * a brief warm-up (`warm` for 0 ms: its fixed number of runs): the other
 * systems' warm-ups and rounds leave a session idle long enough for its
 * pool to close idle connections (after 10 s), and the first system measured
 * would otherwise pay for opening them again.
 */
export async function sessionTrial(
  system: BenchSystem,
  warmupMs: number,
  warm: (session: Session, ms: number) => Promise<void>,
  once: (session: Session) => Promise<WorkloadResult>,
): Promise<Trial> {
  const opened = await openSession(system, {});
  try {
    await warm(opened.session, warmupMs);
  } catch (error) {
    await opened.close().catch(() => undefined);
    throw error;
  }
  return {
    measure: async () => {
      await warm(opened.session, 0);
      return once(opened.session);
    },
    close: async () => {
      await opened.close();
    },
  };
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
