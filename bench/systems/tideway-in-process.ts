// Tideway in one process: engine, worker(s) and client share the process and
// talk through the in-process connection (no HTTP), on PostgreSQL or PGlite.
import pg from 'pg';
import { Client, type Connection } from '../../src/client/index.js';
import { Engine } from '../../src/engine/index.js';
import { Worker } from '../../src/worker/index.js';
import { type SqlCounts, sqlCounts, uncounted } from '../support/sql-counter.js';
import type { BenchSystem, Session, SessionOptions } from './system.js';
import { activities, quietLogger, TASK_QUEUE, workflows } from './tideway-workflows.js';

const COMPLETED_SQL = "SELECT count(*)::int AS n FROM runs WHERE status = 'completed'";

export function tidewayInProcess(store: 'postgres' | 'pglite'): BenchSystem {
  return {
    id: store === 'postgres' ? 'tideway-inprocess-pg' : 'tideway-inprocess-pglite',
    label: store === 'postgres' ? 'Tideway in-process, PostgreSQL' : 'Tideway in-process, PGlite',
    engine: 'tideway',
    store,
    databasePrefix: 'tideway_bench',
    open: (options) => openInProcess(store, options),
  };
}

async function openInProcess(store: 'postgres' | 'pglite', options: SessionOptions): Promise<Session> {
  if (store === 'postgres' && !options.databaseUrl) throw new Error('a PostgreSQL session needs a databaseUrl');
  const engine = await Engine.open(store === 'postgres' ? { databaseUrl: options.databaseUrl } : { inMemory: true });
  const connection: Connection = { api: engine, target: 'in-process' };
  const client = await Client.connect({ connection });
  const running: { worker: Worker; done: Promise<void> }[] = [];
  let monitor: pg.Client | undefined;

  const startWorkers = async () => {
    for (let i = 0; i < (options.workers ?? 1); i++) {
      const worker = await Worker.create({
        connection,
        taskQueue: TASK_QUEUE,
        workflows,
        activities,
        identity: `bench-worker-${i}`,
        logger: quietLogger,
        handleSignals: false,
        shutdownGraceTime: 1000,
        ...(options.cache === false ? { maxCachedWorkflows: 0 } : {}),
      });
      running.push({ worker, done: worker.run() });
    }
  };
  if (options.worker !== false) await startWorkers();

  return {
    async start(kind, id, ...args) {
      const handle = await client.workflow.start(kind, { id, taskQueue: TASK_QUEUE, args });
      return () => handle.result();
    },
    execute(kind, id, ...args) {
      return client.workflow.execute(kind, { id, taskQueue: TASK_QUEUE, args });
    },
    async countCompleted() {
      if (store === 'pglite') return (await engine.db.query<{ n: number }>(COMPLETED_SQL))[0]!.n;
      if (!monitor) {
        monitor = uncounted(new pg.Client({ connectionString: options.databaseUrl }));
        await monitor.connect();
      }
      return (await monitor.query<{ n: number }>(COMPLETED_SQL)).rows[0]!.n;
    },
    startWorker: startWorkers,
    async close(): Promise<SqlCounts | undefined> {
      await Promise.all(running.map((r) => r.worker.shutdown()));
      await Promise.all(running.map((r) => r.done));
      await monitor?.end();
      await engine.close();
      if (store === 'pglite') return undefined;
      return sqlCounts(new URL(options.databaseUrl!).pathname.slice(1));
    },
  };
}
