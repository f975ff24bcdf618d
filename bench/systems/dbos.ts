// DBOS Transact, the comparison: a library in the application's process on
// the same PostgreSQL. Workflows start with DBOS.startWorkflow; for the
// backlog (no worker running yet) they are enqueued with a DBOSClient on a
// DBOS queue, which the launched executor then drains. DBOS is a process-wide
// singleton, so sessions run one at a time.
import { DBOS, DBOSClient } from '@dbos-inc/dbos-sdk';
import pg from 'pg';
import { type SqlCounts, sqlCounts, uncounted } from '../support/sql-counter.js';
import { dbosWorkflows } from './dbos-workflows.js';
import type { BenchSystem, BenchWorkflows, Session, SessionOptions, WorkflowKind } from './system.js';

const APP = 'tideway_bench';
const VERSION = 'bench';
const QUEUE = 'bench';
const silent = { info() {}, debug() {}, warn() {}, error: (e: unknown) => console.error('[dbos]', e) };

export function dbosSystem(): BenchSystem {
  return {
    id: 'dbos-pg',
    label: 'DBOS Transact, PostgreSQL',
    engine: 'dbos',
    store: 'postgres',
    databasePrefix: 'dbos_bench',
    open: openDbos,
  };
}

async function openDbos(options: SessionOptions): Promise<Session> {
  const url = options.databaseUrl;
  if (!url) throw new Error('DBOS needs a databaseUrl');
  if (DBOS.isInitialized()) throw new Error('one DBOS session at a time');
  let client: DBOSClient | undefined;
  let monitor: pg.Client | undefined;

  const launch = async () => {
    await client?.destroy();
    client = undefined;
    DBOS.setConfig({ name: APP, systemDatabaseUrl: url, applicationVersion: VERSION, logger: silent });
    await DBOS.launch();
    await DBOS.registerQueue(QUEUE);
  };
  if (options.worker === false) {
    await DBOS.migrate(url);
    client = await DBOSClient.create({ systemDatabaseUrl: url, applicationName: APP, logger: silent });
    await client.registerQueue(QUEUE);
  } else {
    await launch();
  }

  const start = async <K extends WorkflowKind>(kind: K, id: string, ...args: BenchWorkflows[K]['args']) => {
    const handle = client
      ? await client.enqueue({ queueName: QUEUE, workflowName: kind, workflowID: id, appVersion: VERSION }, ...args)
      : await DBOS.startWorkflow(dbosWorkflows[kind] as (...a: unknown[]) => Promise<unknown>, {
          workflowID: id,
        })(...args);
    return () => handle.getResult() as Promise<BenchWorkflows[K]['result']>;
  };
  return {
    start,
    // DBOS's start-and-wait: calling the workflow function runs it to its result (under the given id).
    async execute<K extends WorkflowKind>(kind: K, id: string, ...args: BenchWorkflows[K]['args']) {
      if (client) return (await start(kind, id, ...args))();
      const workflow = dbosWorkflows[kind] as (...a: unknown[]) => Promise<BenchWorkflows[K]['result']>;
      return DBOS.withNextWorkflowID(id, () => workflow(...args));
    },
    async countCompleted() {
      if (!monitor) {
        monitor = uncounted(new pg.Client({ connectionString: url }));
        await monitor.connect();
      }
      const rows = await monitor.query<{ n: number }>(
        "SELECT count(*)::int AS n FROM dbos.workflow_status WHERE status = 'SUCCESS'",
      );
      return rows.rows[0]!.n;
    },
    startWorker: launch,
    async close(): Promise<SqlCounts | undefined> {
      await client?.destroy();
      await monitor?.end();
      if (DBOS.isInitialized()) await DBOS.shutdown();
      return sqlCounts(new URL(url).pathname.slice(1));
    },
  };
}
