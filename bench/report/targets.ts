// The targets, checked against one run's results: ratios to DBOS
// measured in the same invocation, and absolute limits.
import type { Ratio, TargetCheck, WorkloadRounds } from '../result.js';
import { median } from '../stats.js';
import type { WorkloadResult } from '../workloads/workload.js';

type Results = Record<string, Record<string, WorkloadResult>>;
type Rounds = Record<string, WorkloadRounds>;

const DBOS = 'dbos-pg';
const TIDEWAY_PG = ['tideway-inprocess-pg', 'tideway-server-pg'] as const;
const TIDEWAY_ALL = [...TIDEWAY_PG, 'tideway-inprocess-pglite'] as const;

function metric(results: Results, system: string, workload: string, key: string): number | undefined {
  const value = results[system]?.[workload]?.[key];
  return typeof value === 'number' && Number.isFinite(value) ? value : undefined;
}

const COMPARED: { label: string; workload: string; key: string; higherIsBetter: boolean }[] = [
  { label: 'latency p50', workload: 'latency', key: 'p50Ms', higherIsBetter: false },
  { label: 'latency p99', workload: 'latency', key: 'p99Ms', higherIsBetter: false },
  { label: 'throughput wf/s', workload: 'throughput', key: 'workflowsPerS', higherIsBetter: true },
  { label: 'ten steps p50 per workflow', workload: 'tenSteps', key: 'p50Ms', higherIsBetter: false },
  { label: 'ten steps per step', workload: 'tenSteps', key: 'perStepMs', higherIsBetter: false },
  { label: 'timers wall ms', workload: 'timers', key: 'wallMs', higherIsBetter: false },
  { label: 'timers p99 lateness', workload: 'timers', key: 'latenessP99Ms', higherIsBetter: false },
  { label: 'long history step ~last (cache)', workload: 'longHistory', key: 'cacheStepLastMs', higherIsBetter: false },
  { label: 'backlog drain wf/s', workload: 'backlog', key: 'drainPerS', higherIsBetter: true },
  { label: 'backlog starts/s', workload: 'backlog', key: 'startsPerS', higherIsBetter: true },
  { label: 'statements per workflow', workload: 'dbCost', key: 'workflowStatements', higherIsBetter: false },
  { label: 'statements per step', workload: 'dbCost', key: 'stepStatements', higherIsBetter: false },
  { label: 'write transactions per step', workload: 'dbCost', key: 'stepWriteTransactions', higherIsBetter: false },
  { label: 'idle statements/s', workload: 'idle', key: 'statementsPerS', higherIsBetter: false },
];

/**
 * Tideway / DBOS for each compared metric. When both ran the workload in
 * rounds, the ratio is taken within each round (the two measured minutes
 * apart at most) and the median of those is reported: a drift of the
 * machine's speed between rounds then cancels instead of favouring one side.
 */
export function computeRatios(results: Results, rounds: Rounds = {}): Ratio[] {
  const ratios: Ratio[] = [];
  for (const c of COMPARED) {
    const dbos = metric(results, DBOS, c.workload, c.key);
    if (dbos === undefined) continue;
    for (const system of TIDEWAY_ALL) {
      const tideway = metric(results, system, c.workload, c.key);
      if (tideway === undefined) continue;
      const { ratio, paired } = ratioOf(rounds, c.workload, c.key, system, tideway, dbos);
      ratios.push({
        label: c.label,
        system,
        tideway,
        dbos,
        ratio: roundRatio(ratio),
        ...(paired.length > 0 ? { rounds: paired.map(roundRatio) } : {}),
        higherIsBetter: c.higherIsBetter,
      });
    }
  }
  return ratios;
}

/** Tideway / DBOS in each round both measured (a system that failed has only its earlier rounds). */
export function pairedRatios(rounds: Rounds, workload: string, key: string, system: string): number[] {
  const bySystem = rounds[workload]?.bySystem;
  const mine = bySystem?.[system] ?? [];
  const theirs = bySystem?.[DBOS] ?? [];
  const paired: number[] = [];
  for (let i = 0; i < Math.min(mine.length, theirs.length); i++) {
    const t = mine[i]?.[key];
    const d = theirs[i]?.[key];
    if (typeof t === 'number' && typeof d === 'number' && Number.isFinite(t) && Number.isFinite(d) && d !== 0) {
      paired.push(t / d);
    }
  }
  return paired;
}

/** The reported ratio: the median of the rounds' ratios when there are any, else the ratio of the two figures. */
function ratioOf(
  rounds: Rounds,
  workload: string,
  key: string,
  system: string,
  tideway: number,
  dbos: number,
): { ratio: number; paired: number[] } {
  const paired = pairedRatios(rounds, workload, key, system);
  if (paired.length > 0) return { ratio: median(paired), paired };
  return { ratio: dbos === 0 ? Number.POSITIVE_INFINITY : tideway / dbos, paired };
}

function roundRatio(ratio: number): number {
  return Number.isFinite(ratio) ? Math.round(ratio * 100) / 100 : ratio;
}

function check(target: string, system: string, measured: string | undefined, pass: boolean | undefined): TargetCheck {
  if (measured === undefined || pass === undefined) return { target, system, measured: 'not measured', status: 'n/a' };
  return { target, system, measured, status: pass ? 'PASS' : 'FAIL' };
}

function ratioCheck(
  results: Results,
  rounds: Rounds,
  target: string,
  system: string,
  workload: string,
  key: string,
  pass: (ratio: number) => boolean,
): TargetCheck {
  const t = metric(results, system, workload, key);
  const d = metric(results, DBOS, workload, key);
  if (t === undefined || d === undefined || d === 0) return check(target, system, undefined, undefined);
  const { ratio, paired } = ratioOf(rounds, workload, key, system, t, d);
  const spread =
    paired.length > 1 ? `, rounds ${Math.min(...paired).toFixed(2)}–${Math.max(...paired).toFixed(2)}` : '';
  return check(target, system, `${ratio.toFixed(2)}× (${t} vs ${d}${spread})`, pass(ratio));
}

export function checkTargets(
  results: Results,
  rounds: Rounds,
  sizes: { timerSleepMs: number; idleWorkers: number },
): TargetCheck[] {
  const sleepMs = sizes.timerSleepMs;
  const [inProcess, server] = TIDEWAY_PG;
  const checks: TargetCheck[] = [
    ratioCheck(results, rounds, 'latency p50 ≤ 1.0× DBOS (in-process)', inProcess, 'latency', 'p50Ms', (r) => r <= 1.0),
    ratioCheck(results, rounds, 'latency p50 ≤ 1.5× DBOS (server mode)', server, 'latency', 'p50Ms', (r) => r <= 1.5),
  ];
  for (const system of TIDEWAY_PG) {
    checks.push(
      ratioCheck(results, rounds, 'throughput ≥ 1.5× DBOS', system, 'throughput', 'workflowsPerS', (r) => r >= 1.5),
    );
  }
  for (const system of TIDEWAY_PG) {
    checks.push(
      ratioCheck(results, rounds, 'per step (ten steps) ≤ 0.5× DBOS', system, 'tenSteps', 'perStepMs', (r) => r <= 0.5),
    );
  }
  const wallLimit = sleepMs * 1.05;
  for (const system of TIDEWAY_PG) {
    const wall = metric(results, system, 'timers', 'wallMs');
    checks.push(
      check(
        `timers: wall ≤ ${wallLimit} ms`,
        system,
        wall !== undefined ? `${wall} ms` : undefined,
        wall !== undefined && wall <= wallLimit,
      ),
    );
    const early = metric(results, system, 'timers', 'earlyTimers');
    checks.push(check('timers: none early', system, early !== undefined ? `${early} early` : undefined, early === 0));
    const p99 = metric(results, system, 'timers', 'latenessP99Ms');
    checks.push(
      check(
        'timers: p99 lateness ≤ 20 ms',
        system,
        p99 !== undefined ? `${p99} ms` : undefined,
        p99 !== undefined && p99 <= 20,
      ),
    );
  }
  for (const system of TIDEWAY_PG) {
    const cached = metric(results, system, 'longHistory', 'cacheLastOver10');
    checks.push(
      check(
        'long history: step ~last ≤ 1.5× step ~10 (cache)',
        system,
        cached !== undefined ? `${cached}×` : undefined,
        cached !== undefined && cached <= 1.5,
      ),
    );
    const growth = metric(results, system, 'longHistory', 'noCacheGrowthRatio');
    const flat = metric(results, system, 'longHistory', 'noCacheLastOver10');
    const linear = growth !== undefined && flat !== undefined ? flat <= 1.5 || (growth > 0 && growth <= 2) : undefined;
    checks.push(
      check(
        'long history: no cache, replay linear (growth 2nd half / 1st half ≤ 2)',
        system,
        growth !== undefined ? `growth ratio ${growth}, last/10 ${flat}×` : undefined,
        linear,
      ),
    );
  }
  for (const system of TIDEWAY_PG) {
    const w = metric(results, system, 'dbCost', 'stepWriteTransactions');
    checks.push(
      check(
        '≤ 2 write transactions per activity step',
        system,
        w !== undefined ? `${w}` : undefined,
        w !== undefined && w <= 2,
      ),
    );
  }
  for (const system of TIDEWAY_PG) {
    const q = metric(results, system, 'idle', 'statementsPerS');
    const x = metric(results, system, 'idle', 'xactCommitPerS');
    checks.push(
      check(
        `idle: ≤ 2 queries/s with ${sizes.idleWorkers} idle workers`,
        system,
        q !== undefined ? `${q} statements/s (${x} commits/s)` : undefined,
        q !== undefined && q <= 2,
      ),
    );
  }
  return checks;
}
