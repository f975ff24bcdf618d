// The JSON a run writes (bench/results/latest.json by default).
import type { Sizes } from './options.js';
import type { Machine } from './support/machine.js';
import type { WorkloadResult } from './workloads/workload.js';

export interface Ratio {
  label: string;
  system: string;
  tideway: number;
  dbos: number;
  /**
   * Tideway / DBOS: the median of the ratios of each round when the
   * workload ran in rounds (`rounds`), else the ratio of the two figures.
   */
  ratio: number;
  /** The ratio in each round, in round order. */
  rounds?: number[] | undefined;
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
  /** Timed workloads, round by round: the order systems ran in, and each one's figures. */
  rounds: Record<string, WorkloadRounds>;
  errors: { system: string; workload: string; message: string }[];
  floor?: WorkloadResult | undefined;
  ratios: Ratio[];
  targets: TargetCheck[];
}

export interface WorkloadRounds {
  /** System ids in the order measured, per round. */
  orders: string[][];
  /** bySystem[systemId][round] */
  bySystem: Record<string, WorkloadResult[]>;
}

export const COUNTING_METHOD =
  'pg_stat_statements is not loaded, so statements, transactions and write transactions are counted in the ' +
  'client processes by wrapping pg.Client.prototype.query (every pool and LISTEN connection of Tideway and DBOS; ' +
  'in server mode inside the server process), per database; committed transactions also from ' +
  "pg_stat_database.xact_commit of the session's own database, read after all its backends exited. " +
  'Per-workflow and per-second figures are differences between a small and a large session.';
