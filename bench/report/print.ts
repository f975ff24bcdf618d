// The human-readable report of a run: one table per workload (a row per
// system), the Tideway/DBOS ratios, and the targets with PASS/FAIL.
import type { SuiteResult } from '../result.js';
import { machineLine } from '../support/machine.js';
import { type Cell, table } from './table.js';

const COLUMNS: Record<string, { title: string; columns: [key: string, header: string][] }> = {
  latency: {
    title: 'latency: one-activity workflow, start → result, sequential',
    columns: [
      ['p50Ms', 'p50 ms'],
      ['p99Ms', 'p99 ms'],
    ],
  },
  throughput: {
    title: 'throughput: one-activity workflows started concurrently, all awaited',
    columns: [
      ['workflowsPerS', 'wf/s'],
      ['wallS', 'wall s'],
    ],
  },
  tenSteps: {
    title: 'ten steps: ten sequential activities, sequential runs',
    columns: [
      ['p50Ms', 'p50 ms/wf'],
      ['p99Ms', 'p99 ms/wf'],
      ['perStepMs', 'ms/step'],
    ],
  },
  timers: {
    title: 'timers: concurrent workflows each sleeping once',
    columns: [
      ['wallMs', 'wall ms'],
      ['lastSleepStartMs', 'last sleep at ms'],
      ['tailMs', 'tail ms'],
      ['latenessP50Ms', 'late p50 ms'],
      ['latenessP99Ms', 'late p99 ms'],
      ['latenessMaxMs', 'late max ms'],
      ['latenessMinMs', 'late min ms'],
      ['earlyTimers', 'early'],
    ],
  },
  longHistory: {
    title: 'long history: one workflow of sequential activities (ms per step near step 10 / middle / last)',
    columns: [
      ['cacheTotalS', 'cache: total s'],
      ['cacheStep10Ms', '~10'],
      ['cacheStepMidMs', '~mid'],
      ['cacheStepLastMs', '~last'],
      ['cacheLastOver10', 'last/10'],
      ['noCacheTotalS', 'no cache: total s'],
      ['noCacheStep10Ms', '~10'],
      ['noCacheStepMidMs', '~mid'],
      ['noCacheStepLastMs', '~last'],
      ['noCacheGrowthRatio', 'growth'],
    ],
  },
  backlog: {
    title: 'backlog: started with no worker, then one worker drains',
    columns: [
      ['startsPerS', 'starts/s'],
      ['workerStartS', 'worker start s'],
      ['drainS', 'drain s'],
      ['drainPerS', 'drain wf/s'],
    ],
  },
  dbCost: {
    title: 'database cost: per one-activity workflow and per step (difference of two sessions)',
    columns: [
      ['workflowStatements', 'stmts/wf'],
      ['workflowRoundTrips', 'round trips/wf'],
      ['workflowTransactions', 'tx/wf'],
      ['workflowWriteTransactions', 'write tx/wf'],
      ['workflowXactCommit', 'xact_commit/wf'],
      ['stepStatements', 'stmts/step'],
      ['stepRoundTrips', 'round trips/step'],
      ['stepTransactions', 'tx/step'],
      ['stepWriteTransactions', 'write tx/step'],
      ['stepXactCommit', 'xact_commit/step'],
    ],
  },
  idle: {
    title: 'idle cost: idle workers long-polling (DBOS: one executor with a queue)',
    columns: [
      ['workers', 'workers'],
      ['statementsPerS', 'statements/s'],
      ['xactCommitPerS', 'xact_commit/s'],
    ],
  },
};

export function renderReport(result: SuiteResult): string {
  const labels = new Map(result.systems.map((s) => [s.id, s.label]));
  const out: string[] = [
    `Tideway benchmark, ${result.startedAt} (${Math.round(result.durationS)} s)`,
    `Machine: ${machineLine(result.machine)}; at the end ${result.loadAverageAtEnd.join(' ')}`,
    `Rounds: ${result.sizes.repetitions} (timed workloads, the systems alternating; medians shown). Counting: ${result.counting}`,
  ];
  for (const [workload, spec] of Object.entries(COLUMNS)) {
    const rows: Cell[][] = [];
    for (const { id } of result.systems) {
      const r = result.results[id]?.[workload];
      if (!r) continue;
      const done = typeof r.started === 'number' ? `${r.completed}/${r.started}` : undefined;
      rows.push([labels.get(id), ...spec.columns.map(([key]) => r[key] as Cell), done]);
    }
    if (result.floor && (workload === 'latency' || workload === 'throughput')) {
      const f = result.floor as Record<string, Cell>;
      rows.push(
        workload === 'latency'
          ? ['PostgreSQL floor: one INSERT', f.latencyP50Ms, f.latencyP99Ms, undefined]
          : ['PostgreSQL floor: INSERTs, pool of 10', f.insertsPerS, undefined, undefined],
      );
    }
    if (rows.length === 0) continue;
    out.push('', `## ${spec.title}`, '', table(['system', ...spec.columns.map(([, h]) => h), 'done'], rows));
  }
  if (result.ratios.length > 0) {
    out.push(
      '',
      '## Tideway / DBOS (same run; timed workloads: median of the ratios of each round)',
      '',
      table(
        ['metric', 'Tideway system', 'Tideway', 'DBOS', 'ratio', 'ratio by round'],
        result.ratios.map((r) => [
          r.label,
          labels.get(r.system),
          r.tideway,
          r.dbos,
          r.ratio,
          r.rounds && r.rounds.length > 1 ? r.rounds.join(' / ') : undefined,
        ]),
      ),
    );
  }
  const checked = result.targets.filter((t) => t.status !== 'n/a');
  if (checked.length > 0) {
    out.push(
      '',
      '## Targets (issue 5)',
      '',
      table(
        ['target', 'system', 'measured', 'status'],
        checked.map((t) => [t.target, labels.get(t.system), t.measured, t.status]),
      ),
    );
  }
  const unmeasured = result.targets.length - checked.length;
  if (unmeasured > 0) out.push(`(${unmeasured} target checks not measured in this run: workload or DBOS left out)`);
  if (result.errors.length > 0) {
    out.push('', '## Errors', '');
    for (const e of result.errors) out.push(`- ${labels.get(e.system) ?? e.system} / ${e.workload}: ${e.message}`);
  }
  return out.join('\n');
}
