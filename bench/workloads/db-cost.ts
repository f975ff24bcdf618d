// 7. Database cost: what one workflow and one step cost PostgreSQL. Each
// figure is the difference between two sessions that differ only in the
// number of workflows run (so startup, migrations and shutdown cancel out):
// statements, round trips, transactions and write transactions counted in the client
// processes (see support/sql-counter.ts), and committed transactions from
// pg_stat_database of the session's own database, read after every backend
// exited. Per step = (ten-step workflow − one-step workflow) / 9.

import { round } from '../stats.js';
import type { Session } from '../systems/system.js';
import { runId, type SessionOutcome, withSession } from './with-session.js';
import type { Workload, WorkloadResult } from './workload.js';

interface Cost {
  statements: number;
  roundTrips: number;
  transactions: number;
  writeTransactions: number;
  xactCommit: number;
  shapes: Record<string, number>;
}

function costOf(outcome: SessionOutcome<unknown>): Cost {
  if (!outcome.sql || !outcome.db) throw new Error('database cost needs SQL counts and database statistics');
  return { ...outcome.sql, shapes: outcome.sql.shapes ?? {}, xactCommit: outcome.db.xactCommit };
}

function perUnit(large: Cost, small: Cost, units: number): Cost {
  const k = (key: Exclude<keyof Cost, 'shapes'>) => (large[key] - small[key]) / units;
  const shapes: Record<string, number> = {};
  for (const shape of new Set([...Object.keys(large.shapes), ...Object.keys(small.shapes)])) {
    const per = ((large.shapes[shape] ?? 0) - (small.shapes[shape] ?? 0)) / units;
    if (Math.abs(per) >= 0.05) shapes[shape] = round(per);
  }
  return {
    statements: k('statements'),
    roundTrips: k('roundTrips'),
    transactions: k('transactions'),
    writeTransactions: k('writeTransactions'),
    xactCommit: k('xactCommit'),
    shapes: Object.fromEntries(Object.entries(shapes).sort((a, b) => b[1] - a[1])),
  };
}

export const dbCost: Workload = {
  name: 'dbCost',
  title: 'database cost: statements and transactions per workflow and per step',
  supports: (system) => system.store === 'postgres',
  async run({ system, sizes }) {
    const [small, large] = sizes.costWorkflows;
    let completed = 0;
    const session = async (kind: 'hello' | 'tenSteps', n: number) =>
      costOf(
        await withSession(system, { databaseStats: true }, async (s: Session) => {
          for (let i = 0; i < n; i++) {
            await s.execute(kind, runId('cost'), i);
            completed++;
          }
        }),
      );
    const hello = perUnit(await session('hello', large), await session('hello', small), large - small);
    const ten = perUnit(await session('tenSteps', large), await session('tenSteps', small), large - small);
    const step = perUnit(ten, hello, 9);
    const result: WorkloadResult = { started: 2 * (small + large), completed };
    for (const [prefix, cost] of [
      ['workflow', hello],
      ['tenStepWorkflow', ten],
      ['step', step],
    ] as const) {
      result[`${prefix}Statements`] = round(cost.statements);
      result[`${prefix}RoundTrips`] = round(cost.roundTrips);
      result[`${prefix}Transactions`] = round(cost.transactions);
      result[`${prefix}WriteTransactions`] = round(cost.writeTransactions);
      result[`${prefix}XactCommit`] = round(cost.xactCommit);
    }
    result.workflowStatementShapes = hello.shapes;
    result.stepStatementShapes = step.shapes;
    return result;
  },
};
