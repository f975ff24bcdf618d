// The JSON a run writes (bench/results/latest.json by default).
import type { Sizes } from './options.js';
import type { Machine } from './support/machine.js';
import type { WorkloadResult } from './workloads/workload.js';

export interface Ratio {
  label: string;
  system: string;
  tideway: number;
  dbos: number;
  /** Tideway / DBOS. */
  ratio: number;
  /** Whether a bigger value of the metric is better (throughput) or worse (latency). */
  higherIsBetter: boolean;
}

export interface TargetCheck {
  target: string;
  system: string;
  measured: string;
  status: 'PASS' | 'FAIL' | 'n/a';
}

export interface SuiteResult {
  benchmark: 'tideway-suite';
  startedAt: string;
  durationS: number;
  loadAverageAtEnd: number[];
  machine: Machine;
  sizes: Sizes;
  counting: string;
  systems: { id: string; label: string }[];
  /** results[systemId][workload] */
  results: Record<string, Record<string, WorkloadResult>>;
  errors: { system: string; workload: string; message: string }[];
  floor?: WorkloadResult | undefined;
  ratios: Ratio[];
  targets: TargetCheck[];
}

export const COUNTING_METHOD =
  'pg_stat_statements is not loaded, so statements, transactions and write transactions are counted in the ' +
  'client processes by wrapping pg.Client.prototype.query (every pool and LISTEN connection of Tideway and DBOS; ' +
  'in server mode inside the server process), per database; committed transactions also from ' +
  "pg_stat_database.xact_commit of the session's own database, read after all its backends exited. " +
  'Per-workflow and per-second figures are differences between a small and a large session.';
