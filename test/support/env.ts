import { Client, type Connection } from '../../src/client/index.js';
import type { OffsetClock } from '../../src/engine/index.js';
import { type RunningServer, startServer } from '../../src/server/index.js';
import { TestWorkflowEnvironment } from '../../src/testing/index.js';
import { Worker, type WorkerOptions } from '../../src/worker/index.js';
import type { WorkflowFunction } from '../../src/workflow/index.js';
import { BACKEND, createTestDatabase } from './backend.js';
import { replayAllRuns } from './replay-check.js';

export type Transport = 'in-process' | 'http';
export const TRANSPORTS: Transport[] = ['in-process', 'http'];

/**
 * One Tideway for a test, on this project's backend, reached in process or
 * over HTTP. The same suites run against both transports.
 */
export interface TestTideway {
  transport: Transport;
  client: Client;
  connection: Connection;
  clock: OffsetClock;
  env: TestWorkflowEnvironment;
  server?: RunningServer;
  /** The test's own PostgreSQL database, when on PostgreSQL (for tests that hold locks beside the engine). */
  databaseUrl?: string;
  /** Creates and runs a worker (on this Tideway's connection unless given one); it is shut down by teardown(). */
  startWorker(options: Omit<WorkerOptions, 'connection'> & { connection?: Connection }): Promise<Worker>;
  skipTime(ms: number | string): void;
  teardown(): Promise<void>;
}

export async function createTideway(
  transport: Transport = 'in-process',
  options: {
    maxPayloadBytes?: number;
    outputBudget?: { bytesPerWindow: number; windowMs: number };
    taskEventRetention?: string | number;
    /** Replay every run at teardown and fail on non-determinism (default true). */
    replayCheck?: boolean;
  } = {},
): Promise<TestTideway> {
  const { replayCheck = true, ...envOptions } = options;
  const db = BACKEND === 'postgres' ? await createTestDatabase() : undefined;
  const env = await TestWorkflowEnvironment.create({ ...(db ? { databaseUrl: db.url } : {}), ...envOptions });
  let server: RunningServer | undefined;
  let connection = env.connection;
  let client = env.client;
  if (transport === 'http') {
    server = await startServer({ port: 0, engine: env.engine });
    client = await Client.connect({ address: server.url });
    connection = client.connection;
  }
  const workers: { worker: Worker; running: Promise<void> }[] = [];
  const workflowsByType = new Map<string, WorkflowFunction>();
  return {
    transport,
    client,
    connection,
    clock: env.clock,
    env,
    ...(server ? { server } : {}),
    ...(db ? { databaseUrl: db.url } : {}),
    async startWorker(options) {
      const worker = await Worker.create({
        handleSignals: false,
        shutdownGraceTime: 100,
        logger: { debug() {}, info() {}, warn() {}, error() {} },
        ...options,
        connection: options.connection ?? connection,
      });
      for (const [name, fn] of Object.entries(options.workflows ?? {})) {
        if (typeof fn === 'function') workflowsByType.set(name, fn as WorkflowFunction);
      }
      workers.push({ worker, running: worker.run() });
      return worker;
    },
    skipTime(ms) {
      env.skipTime(ms);
    },
    async teardown() {
      // Every run the suite created must replay from its history through the same code.
      const problems = replayCheck ? await replayAllRuns(env.client, workflowsByType) : [];
      await Promise.all(
        workers.map(async (w) => {
          await w.worker.shutdown();
          await w.running;
        }),
      );
      await server?.close();
      await env.teardown();
      await db?.drop();
      if (problems.length > 0) throw new Error(`runs that do not replay:\n${problems.join('\n')}`);
    },
  };
}
