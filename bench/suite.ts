// Runs the chosen workloads on the chosen systems, workload by workload (each
// workload on every system before the next; the timed ones in rounds that
// alternate the systems, see rounds.ts), and gathers one SuiteResult.
import { mkdirSync, writeFileSync } from 'node:fs';
import { loadavg } from 'node:os';
import { dirname } from 'node:path';
import type { ModeName, SuiteOptions } from './options.js';
import { checkTargets, computeRatios } from './report/targets.js';
import { COUNTING_METHOD, type SuiteResult } from './result.js';
import { runRounds } from './rounds.js';
import { describeMachine } from './support/machine.js';
import { postgresReachable } from './support/postgres.js';
import { installSqlCounter } from './support/sql-counter.js';
import type { BenchSystem } from './systems/system.js';
import { tidewayInProcess } from './systems/tideway-in-process.js';
import { tidewayServer } from './systems/tideway-server.js';
import { backlog } from './workloads/backlog.js';
import { dbCost } from './workloads/db-cost.js';
import { idle } from './workloads/idle.js';
import { latency } from './workloads/latency.js';
import { longHistory } from './workloads/long-history.js';
import { measurePostgresFloor } from './workloads/postgres-floor.js';
import { tenSteps } from './workloads/ten-steps.js';
import { throughput } from './workloads/throughput.js';
import { timers } from './workloads/timers.js';
import type { Workload, WorkloadResult } from './workloads/workload.js';

const ALL_WORKLOADS: Workload[] = [latency, throughput, tenSteps, timers, longHistory, backlog, dbCost, idle];

async function systemFor(mode: ModeName): Promise<BenchSystem> {
  switch (mode) {
    case 'inprocess-pg':
      return tidewayInProcess('postgres');
    case 'server-pg':
      return tidewayServer();
    case 'inprocess-pglite':
      return tidewayInProcess('pglite');
    case 'dbos':
      // Loaded only when asked for: importing it registers DBOS workflows in this process.
      return (await import('./systems/dbos.js')).dbosSystem();
  }
}

export async function runSuite(options: SuiteOptions): Promise<SuiteResult> {
  const log = options.log ?? ((line: string) => process.stderr.write(`${line}\n`));
  const started = new Date();
  const t0 = performance.now();
  installSqlCounter();
  const postgres = await postgresReachable();
  const machine = await describeMachine(postgres);
  const systems: BenchSystem[] = [];
  for (const mode of options.modes) {
    const system = await systemFor(mode);
    if (system.store === 'postgres' && !postgres) log(`skipping ${system.label}: PostgreSQL is not reachable`);
    else systems.push(system);
  }
  const results: Record<string, Record<string, WorkloadResult>> = {};
  const rounds: SuiteResult['rounds'] = {};
  const errors: SuiteResult['errors'] = [];
  for (const workload of ALL_WORKLOADS.filter((w) => options.workloads.includes(w.name))) {
    const measured = systems.filter((s) => workload.supports(s));
    if (workload.open) {
      const outcome = await runRounds({ ...workload, open: workload.open }, measured, options.sizes, log);
      for (const [id, result] of outcome.results) results[id] = { ...results[id], [workload.name]: result };
      rounds[workload.name] = { orders: outcome.orders, bySystem: Object.fromEntries(outcome.rounds) };
      for (const e of outcome.errors) errors.push({ system: e.system, workload: workload.name, message: e.message });
      continue;
    }
    for (const system of measured) {
      log(`${workload.name} · ${system.label}`);
      const w0 = performance.now();
      try {
        const result = await workload.run!({ system, sizes: options.sizes, log });
        results[system.id] = { ...results[system.id], [workload.name]: result };
        log(`  ${((performance.now() - w0) / 1000).toFixed(1)} s: ${JSON.stringify(result)}`);
      } catch (error) {
        const message = error instanceof Error ? (error.stack ?? error.message) : String(error);
        errors.push({ system: system.id, workload: workload.name, message: message.split('\n')[0]! });
        log(`  failed: ${message}`);
      }
    }
  }
  let floor: WorkloadResult | undefined;
  if (options.workloads.includes('floor') && postgres) {
    log('floor · raw PostgreSQL INSERTs');
    floor = await measurePostgresFloor(options.sizes);
    log(`  ${JSON.stringify(floor)}`);
  }
  const result: SuiteResult = {
    benchmark: 'tideway-suite',
    startedAt: started.toISOString(),
    durationS: Math.round((performance.now() - t0) / 100) / 10,
    loadAverageAtEnd: loadavg().map((l) => Math.round(l * 100) / 100),
    machine,
    sizes: options.sizes,
    counting: COUNTING_METHOD,
    systems: systems.map((s) => ({ id: s.id, label: s.label })),
    results,
    rounds,
    errors,
    floor,
    ratios: computeRatios(results, rounds),
    targets: checkTargets(results, rounds, options.sizes),
  };
  if (options.out) {
    mkdirSync(dirname(options.out), { recursive: true });
    writeFileSync(options.out, `${JSON.stringify(result, null, 2)}\n`);
  }
  return result;
}
