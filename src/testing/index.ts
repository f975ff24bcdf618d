// Test support: a whole Tideway (engine, client, workers) inside one
// process on in-memory PGlite, or on a PostgreSQL database you name, with a
// clock tests can skip forward instead of sleeping.

import type { Connection } from '../client/index.js';
import { Client } from '../client/index.js';
import { Engine, type EngineOptions, OffsetClock } from '../engine/index.js';
import { type Duration, toMs } from '../protocol/index.js';
import { Worker, type WorkerOptions } from '../worker/index.js';

export interface TestWorkflowEnvironmentOptions {
  /** A PostgreSQL URL; default: in-memory PGlite. */
  databaseUrl?: string;
  namespace?: string;
  maxPayloadBytes?: number;
  /** Output an activity attempt may report per window (default: the engine's, 1 MiB per minute). */
  outputBudget?: EngineOptions['outputBudget'];
  taskEventRetention?: Duration;
}

/** An in-process Tideway for tests and scripts: no server, no ports. */
export class TestWorkflowEnvironment {
  readonly connection: Connection;

  private constructor(
    readonly engine: Engine,
    readonly clock: OffsetClock,
    readonly client: Client,
    readonly namespace: string,
  ) {
    this.connection = client.connection;
  }

  static async create(options: TestWorkflowEnvironmentOptions = {}): Promise<TestWorkflowEnvironment> {
    const clock = new OffsetClock();
    const engineOptions: EngineOptions = {
      clock,
      ...(options.databaseUrl ? { databaseUrl: options.databaseUrl } : { inMemory: true }),
      ...(options.maxPayloadBytes ? { maxPayloadBytes: options.maxPayloadBytes } : {}),
      ...(options.outputBudget ? { outputBudget: options.outputBudget } : {}),
      ...(options.taskEventRetention !== undefined ? { taskEventRetention: options.taskEventRetention } : {}),
    };
    const engine = await Engine.open(engineOptions);
    const namespace = options.namespace ?? 'default';
    const client = await Client.connect({ connection: { api: engine, target: 'in-process' }, namespace });
    return new TestWorkflowEnvironment(engine, clock, client, namespace);
  }

  /** A worker on this environment (not yet running: call `run()`, or use `runWorker`). */
  createWorker(options: Omit<WorkerOptions, 'connection'>): Promise<Worker> {
    return Worker.create({
      namespace: this.namespace,
      handleSignals: false,
      ...options,
      connection: this.connection,
      logger: options.logger ?? { debug() {}, info() {}, warn() {}, error: console.error },
    });
  }

  /** Runs `fn` while a worker with these options runs, then shuts it down. */
  async runWorker<T>(options: Omit<WorkerOptions, 'connection'>, fn: (worker: Worker) => Promise<T>): Promise<T> {
    const worker = await this.createWorker(options);
    const running = worker.run();
    try {
      return await fn(worker);
    } finally {
      await worker.shutdown();
      await running;
    }
  }

  /** Moves the engine's clock forward, firing timers that become due; durable sleeps finish at once. */
  skipTime(duration: Duration): void {
    this.clock.skip(toMs(duration));
    this.engine.clockChanged();
  }

  async teardown(): Promise<void> {
    await this.engine.close();
  }
}
export { replayHistory } from './replay.js';
