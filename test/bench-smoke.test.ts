// A tiny run of the benchmark suite (bench/), so it cannot rot: every
// workload with a few workflows, no DBOS, on this project's store. Checks
// that the JSON it writes is complete and sane; never how fast anything is.
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, test } from 'vitest';
import { type ModeName, SMOKE_SIZES, WORKLOADS, type WorkloadName } from '../bench/options.js';
import type { SuiteResult } from '../bench/result.js';
import { runSuite } from '../bench/suite.js';
import type { WorkloadResult } from '../bench/workloads/workload.js';
import { BACKEND, skipBackend } from './support/backend.js';

const sizes = SMOKE_SIZES;
/** The whole suite in miniature: about 45 s on PGlite on a slow phase of a 2-core machine; room for slower ones. */
const SUITE_TIMEOUT_MS = 240_000;
const dir = mkdtempSync(join(tmpdir(), 'tideway-bench-smoke-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

async function runAndRead(modes: ModeName[], workloads: WorkloadName[], repetitions = 1): Promise<SuiteResult> {
  const out = join(dir, `${modes.join('+')}.json`);
  await runSuite({ sizes: { ...sizes, repetitions }, modes, workloads, out, log: () => {} });
  return JSON.parse(readFileSync(out, 'utf8')) as SuiteResult;
}

function num(result: WorkloadResult | undefined, key: string): number {
  const value = result?.[key];
  expect(typeof value, `${key} in ${JSON.stringify(result)}`).toBe('number');
  return value as number;
}

/** Every workflow started was completed, and the workload says how many. */
function expectAllCompleted(result: WorkloadResult | undefined, started: number): void {
  expect(num(result, 'started')).toBe(started);
  expect(num(result, 'completed')).toBe(started);
}

describe.skipIf(await skipBackend())(`benchmark smoke run (${BACKEND})`, () => {
  test(
    'every workload runs a few workflows and reports sane numbers',
    async () => {
      const system = BACKEND === 'postgres' ? 'tideway-inprocess-pg' : 'tideway-inprocess-pglite';
      const result = await runAndRead([BACKEND === 'postgres' ? 'inprocess-pg' : 'inprocess-pglite'], [...WORKLOADS]);

      expect(result.errors).toEqual([]);
      expect(result.machine.cores).toBeGreaterThan(0);
      expect(result.systems.map((s) => s.id)).toEqual([system]);
      const r = result.results[system]!;

      expectAllCompleted(r.latency, sizes.latencyRuns);
      expect(num(r.latency, 'p50Ms')).toBeGreaterThan(0);
      expect(num(r.latency, 'p99Ms')).toBeGreaterThanOrEqual(num(r.latency, 'p50Ms'));

      expectAllCompleted(r.throughput, sizes.throughputWorkflows);
      expect(num(r.throughput, 'workflowsPerS')).toBeGreaterThan(0);

      expectAllCompleted(r.tenSteps, sizes.tenStepRuns);
      expect(num(r.tenSteps, 'perStepMs')).toBeGreaterThan(0);

      expectAllCompleted(r.timers, sizes.timerWorkflows);
      // A durable sleep cannot finish before it is due: the wall time is at least the sleep.
      expect(num(r.timers, 'wallMs')).toBeGreaterThanOrEqual(sizes.timerSleepMs);
      expect(Number.isFinite(num(r.timers, 'latenessP99Ms'))).toBe(true);
      expect(num(r.timers, 'earlyTimers')).toBeGreaterThanOrEqual(0);

      expect(num(r.longHistory, 'cacheCompleted')).toBe(1);
      expect(num(r.longHistory, 'noCacheCompleted')).toBe(1);
      expect(num(r.longHistory, 'cacheStep10Ms')).toBeGreaterThan(0);
      expect(num(r.longHistory, 'noCacheStepLastMs')).toBeGreaterThan(0);

      expectAllCompleted(r.backlog, sizes.backlogWorkflows);
      expect(num(r.backlog, 'drainPerS')).toBeGreaterThan(0);

      if (BACKEND === 'postgres') {
        const [small, large] = sizes.costWorkflows;
        expectAllCompleted(r.dbCost, 2 * (small + large));
        expect(num(r.dbCost, 'workflowStatements')).toBeGreaterThan(0);
        // NOTIFYs travel with the COMMIT: fewer round trips than statements, never more.
        expect(num(r.dbCost, 'workflowRoundTrips')).toBeGreaterThan(0);
        expect(num(r.dbCost, 'workflowRoundTrips')).toBeLessThan(num(r.dbCost, 'workflowStatements'));
        expect(num(r.dbCost, 'workflowXactCommit')).toBeGreaterThan(0);
        expect(num(r.dbCost, 'stepWriteTransactions')).toBeGreaterThan(0);
        // A difference of two short sessions: with idle cost near zero, start-up noise can make it negative.
        expect(Number.isFinite(num(r.idle, 'statementsPerS'))).toBe(true);
        expect(num(result.floor, 'latencyP50Ms')).toBeGreaterThan(0);
        expect(num(result.floor, 'insertsPerS')).toBeGreaterThan(0);
      } else {
        // Counted from PostgreSQL's statistics: not measured on the embedded store.
        expect(r.dbCost).toBeUndefined();
        expect(r.idle).toBeUndefined();
      }
      // No DBOS in this run: no ratios, and the targets that need it say so.
      expect(result.ratios).toEqual([]);
      expect(result.targets.length).toBeGreaterThan(0);
      for (const t of result.targets) expect(['PASS', 'FAIL', 'n/a']).toContain(t.status);
    },
    SUITE_TIMEOUT_MS,
  );

  test.runIf(BACKEND === 'postgres')(
    'server mode (server, worker and client in separate processes), in rounds alternating with in-process mode',
    async () => {
      const result = await runAndRead(['inprocess-pg', 'server-pg'], ['latency'], 2);
      expect(result.errors).toEqual([]);
      const latency = result.results['tideway-server-pg']?.latency;
      // Two rounds of latencyRuns each, summed; the figures are medians of the rounds.
      expectAllCompleted(latency, 2 * sizes.latencyRuns);
      expect(num(latency, 'p50Ms')).toBeGreaterThan(0);
      const rounds = result.rounds.latency!;
      expect(rounds.orders).toEqual([
        ['tideway-inprocess-pg', 'tideway-server-pg'],
        ['tideway-server-pg', 'tideway-inprocess-pg'],
      ]);
      for (const id of ['tideway-inprocess-pg', 'tideway-server-pg']) {
        expect(rounds.bySystem[id]!.map((r) => r.completed)).toEqual([sizes.latencyRuns, sizes.latencyRuns]);
      }
    },
    SUITE_TIMEOUT_MS,
  );
});
