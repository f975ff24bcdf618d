// Idle cost: a server with idle workers long-polling (DBOS: one launched
// executor with a queue), nothing to do. Queries per second against the
// database = the difference between a long and a short idle session,
// divided by the difference in their lengths (so startup and shutdown cancel
// out); counted in the clients and, as transactions, by pg_stat_database.
// The difference spans whole long-poll periods (a worker's poll waits 30 s
// for work, then polls again), so the re-polls are in it.
import { round } from '../stats.js';
import { withSession } from './with-session.js';
import type { Workload } from './workload.js';

export const idle: Workload = {
  name: 'idle',
  title: 'idle cost: idle workers long-polling, queries per second',
  supports: (system) => system.store === 'postgres',
  async run({ system, sizes }) {
    const workers = system.engine === 'tideway' ? sizes.idleWorkers : 1;
    const idleFor = async (seconds: number) => {
      const outcome = await withSession(system, { workers, databaseStats: true }, async () => {
        await new Promise((resolve) => setTimeout(resolve, seconds * 1000));
      });
      if (!outcome.sql || !outcome.db) throw new Error('idle cost needs SQL counts and database statistics');
      return { statements: outcome.sql.statements, xactCommit: outcome.db.xactCommit };
    };
    const [shortS, longS] = sizes.idleSeconds;
    const short = await idleFor(shortS);
    const long = await idleFor(longS);
    const seconds = longS - shortS;
    return {
      workers,
      seconds,
      statementsPerS: round((long.statements - short.statements) / seconds),
      xactCommitPerS: round((long.xactCommit - short.xactCommit) / seconds),
    };
  },
};
