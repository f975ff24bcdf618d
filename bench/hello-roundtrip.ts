// Round-trip time of a one-activity workflow (start → activity → result),
// in-process and over HTTP, on PGlite and (when reachable) PostgreSQL.
// Prints JSON. Usage: npx tsx --conditions=source bench/hello-roundtrip.ts [runs]
import pg from 'pg';
import { Client } from '../src/client/index.js';
import { startServer } from '../src/server/index.js';
import { TestWorkflowEnvironment } from '../src/testing/index.js';
import { Worker } from '../src/worker/index.js';
import { proxyActivities } from '../src/workflow/index.js';

const activities = {
  async addOne(n: number): Promise<number> {
    return n + 1;
  },
};
const { addOne } = proxyActivities<typeof activities>({ startToCloseTimeout: '10s' });
async function hello(n: number): Promise<number> {
  return await addOne(n);
}

const runs = Number(process.argv[2] ?? 200);
const quiet = { debug() {}, info() {}, warn() {}, error: console.error };

function percentile(sorted: number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))]!;
}

async function measure(client: Client, label: string): Promise<Record<string, unknown>> {
  for (let i = 0; i < 20; i++)
    await client.workflow.execute(hello, { id: `warm-${label}-${i}`, taskQueue: 'bench', args: [i] });
  const times: number[] = [];
  for (let i = 0; i < runs; i++) {
    const t0 = performance.now();
    await client.workflow.execute(hello, { id: `${label}-${i}`, taskQueue: 'bench', args: [i] });
    times.push(performance.now() - t0);
  }
  times.sort((a, b) => a - b);
  return { mode: label, runs, p50Ms: +percentile(times, 50).toFixed(2), p99Ms: +percentile(times, 99).toFixed(2) };
}

async function freshPostgres(): Promise<{ url: string; drop: () => Promise<void> } | undefined> {
  const admin = process.env.TIDEWAY_TEST_DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/test';
  const c = new pg.Client({ connectionString: admin, connectionTimeoutMillis: 2000 });
  try {
    await c.connect();
  } catch {
    return undefined;
  }
  const name = `tideway_bench_${Date.now()}`;
  await c.query(`CREATE DATABASE ${name}`);
  await c.end();
  const url = new URL(admin);
  url.pathname = `/${name}`;
  return {
    url: url.toString(),
    drop: async () => {
      const d = new pg.Client({ connectionString: admin });
      await d.connect();
      await d.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
      await d.end();
    },
  };
}

const results: Record<string, unknown>[] = [];
const pgDb = await freshPostgres();
for (const store of ['pglite', 'postgres'] as const) {
  if (store === 'postgres' && !pgDb) continue;
  const env = await TestWorkflowEnvironment.create(store === 'postgres' ? { databaseUrl: pgDb!.url } : {});
  // in-process
  await env.runWorker({ taskQueue: 'bench', workflows: { hello }, activities, logger: quiet }, async () => {
    results.push({ store, ...(await measure(env.client, `in-process-${store}`)) });
  });
  // over HTTP (server, worker and client in this process, talking through loopback)
  const server = await startServer({ port: 0, engine: env.engine });
  const worker = await Worker.create({
    address: server.url,
    taskQueue: 'bench',
    workflows: { hello },
    activities,
    logger: quiet,
    handleSignals: false,
  });
  const running = worker.run();
  const client = await Client.connect({ address: server.url });
  results.push({ store, ...(await measure(client, `http-${store}`)) });
  await worker.shutdown();
  await running;
  await server.close();
  await env.teardown();
}
await pgDb?.drop();
console.log(JSON.stringify({ benchmark: 'hello-roundtrip', node: process.version, results }, null, 2));
