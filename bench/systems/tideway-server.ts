// Tideway server mode: server, worker(s) and client in three processes, on
// PostgreSQL. The server and worker processes are spawned per session; the
// client is this process, talking HTTP to the server.
import pg from 'pg';
import { Client } from '../../src/client/index.js';
import { type ChildScript, spawnScript } from '../support/child-script.js';
import { type SqlCounts, uncounted } from '../support/sql-counter.js';
import type { BenchSystem, Session, SessionOptions } from './system.js';
import { TASK_QUEUE } from './tideway-workflows.js';

export function tidewayServer(): BenchSystem {
  return {
    id: 'tideway-server-pg',
    label: 'Tideway server mode, PostgreSQL',
    engine: 'tideway',
    store: 'postgres',
    databasePrefix: 'tideway_bench',
    open: openServerMode,
  };
}

async function openServerMode(options: SessionOptions): Promise<Session> {
  const databaseUrl = options.databaseUrl;
  if (!databaseUrl) throw new Error('server mode needs a databaseUrl');
  const server = spawnScript('../systems/server-process.ts', 'tideway server', { BENCH_DATABASE_URL: databaseUrl });
  let worker: ChildScript | undefined;
  let monitor: pg.Client | undefined;
  let client: Client;
  let url: string;
  try {
    ({ url } = await server.message<{ url: string }>('READY'));
    client = await Client.connect({ address: url });
  } catch (error) {
    await server.stop();
    throw error;
  }

  const startWorker = async () => {
    worker = spawnScript('../systems/worker-process.ts', 'tideway worker', {
      BENCH_ADDRESS: url,
      BENCH_WORKERS: String(options.workers ?? 1),
      BENCH_CACHE: options.cache === false ? 'off' : 'on',
    });
    await worker.message('READY');
  };
  if (options.worker !== false) await startWorker();

  return {
    async start(kind, id, ...args) {
      const handle = await client.workflow.start(kind, { id, taskQueue: TASK_QUEUE, args });
      return () => handle.result();
    },
    execute(kind, id, ...args) {
      return client.workflow.execute(kind, { id, taskQueue: TASK_QUEUE, args });
    },
    async countCompleted() {
      if (!monitor) {
        monitor = uncounted(new pg.Client({ connectionString: databaseUrl }));
        await monitor.connect();
      }
      const rows = await monitor.query<{ n: number }>("SELECT count(*)::int AS n FROM runs WHERE status = 'completed'");
      return rows.rows[0]!.n;
    },
    startWorker,
    async close(): Promise<SqlCounts | undefined> {
      await worker?.stop();
      await monitor?.end();
      const [counts] = await Promise.all([server.message<SqlCounts>('COUNTS'), server.stop()]);
      return counts;
    },
  };
}
