// What a workload needs from a system under test: open a session on a store,
// start the benchmark's workflows, count finished ones, close. Tideway (three
// ways) and DBOS implement it with the same four workflows.
import type { SqlCounts } from '../support/sql-counter.js';

/** The benchmark's workflows, the same in every system. */
export interface BenchWorkflows {
  /** One activity/step returning its input + 1. */
  hello: { args: [n: number]; result: number };
  /** Ten sequential activities, each adding one. */
  tenSteps: { args: [n: number]; result: number };
  /** A durable sleep; returns the real clock (ms since epoch) just before and just after it. */
  sleeper: { args: [ms: number]; result: { sleptAt: number; wokeAt: number } };
  /** `steps` sequential activities, each returning the real clock when it ran. */
  longHistory: { args: [steps: number]; result: number[] };
}
export type WorkflowKind = keyof BenchWorkflows;

export interface SessionOptions {
  /** The session's own PostgreSQL database; undefined for embedded stores. */
  databaseUrl?: string | undefined;
  /** Start the worker now (default true); otherwise `startWorker()` starts it later. */
  worker?: boolean;
  /** Number of workers (default 1). */
  workers?: number;
  /** Tideway's sticky workflow cache (default on). */
  cache?: boolean;
}

export interface Session {
  /** Starts a workflow; resolves once the start is durable, with a function that awaits its result. */
  start<K extends WorkflowKind>(
    kind: K,
    id: string,
    ...args: BenchWorkflows[K]['args']
  ): Promise<() => Promise<BenchWorkflows[K]['result']>>;
  /**
   * Starts a workflow and awaits its result the way the system's client
   * does that best: Tideway's `client.workflow.execute` (start-and-wait: one
   * request, in server mode one HTTP exchange), DBOS's `startWorkflow` and
   * `getResult`.
   */
  execute<K extends WorkflowKind>(
    kind: K,
    id: string,
    ...args: BenchWorkflows[K]['args']
  ): Promise<BenchWorkflows[K]['result']>;
  /** Workflows that completed successfully so far, read from the store. */
  countCompleted(): Promise<number>;
  /** Starts the worker(s) of a session opened with `worker: false`. */
  startWorker(): Promise<void>;
  /** Shuts everything down; the SQL this session sent, when the system counts it. */
  close(): Promise<SqlCounts | undefined>;
}

export interface BenchSystem {
  /** Stable key in the JSON output, e.g. `tideway-inprocess-pg`. */
  readonly id: string;
  readonly label: string;
  readonly engine: 'tideway' | 'dbos';
  readonly store: 'postgres' | 'pglite';
  /** Prefix of the databases it creates. */
  readonly databasePrefix: string;
  open(options: SessionOptions): Promise<Session>;
}
