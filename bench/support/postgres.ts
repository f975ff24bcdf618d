// The benchmark's PostgreSQL: a fresh database per measured session (so the
// counters of pg_stat_database belong to the benchmark alone), and those
// counters read once every backend of the database has gone (a backend
// flushes its statistics when it exits; an idle one may hold them ~10 s).
import { randomBytes } from 'node:crypto';
import pg from 'pg';
import { uncounted } from './sql-counter.js';

export const ADMIN_DATABASE_URL =
  process.env.TIDEWAY_BENCH_DATABASE_URL ??
  process.env.TIDEWAY_TEST_DATABASE_URL ??
  'postgres://postgres@127.0.0.1:5432/test';

export interface BenchDatabase {
  name: string;
  url: string;
  drop(): Promise<void>;
}

async function withAdmin<T>(fn: (client: pg.Client) => Promise<T>): Promise<T> {
  const client = uncounted(new pg.Client({ connectionString: ADMIN_DATABASE_URL, connectionTimeoutMillis: 3000 }));
  await client.connect();
  try {
    return await fn(client);
  } finally {
    await client.end();
  }
}

export async function postgresReachable(): Promise<boolean> {
  try {
    await withAdmin(async (c) => c.query('SELECT 1'));
    return true;
  } catch {
    return false;
  }
}

/** `PostgreSQL 15.20` and the loaded preload libraries. */
export async function postgresInfo(): Promise<{ version: string; preloadLibraries: string }> {
  return withAdmin(async (c) => {
    const version = (await c.query<{ server_version: string }>('SHOW server_version')).rows[0]!.server_version;
    const preload = (await c.query<{ shared_preload_libraries: string }>('SHOW shared_preload_libraries')).rows[0]!
      .shared_preload_libraries;
    return { version: `PostgreSQL ${version.split(' ')[0]}`, preloadLibraries: preload };
  });
}

/** A new empty database named `<prefix>_<random>`; `drop()` removes it (forcing connections off). */
export async function createBenchDatabase(prefix: string): Promise<BenchDatabase> {
  const name = `${prefix}_${randomBytes(5).toString('hex')}`;
  await withAdmin((c) => c.query(`CREATE DATABASE ${name}`));
  const url = new URL(ADMIN_DATABASE_URL);
  url.pathname = `/${name}`;
  return {
    name,
    url: url.toString(),
    drop: () => withAdmin((c) => c.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`)).then(() => undefined),
  };
}

export interface DatabaseStats {
  xactCommit: number;
  xactRollback: number;
}

/**
 * Committed and rolled-back transactions of a database, after waiting until
 * no backend is connected to it, so every backend has flushed its counts.
 */
export async function settledDatabaseStats(name: string, timeoutMs = 15_000): Promise<DatabaseStats> {
  return withAdmin(async (c) => {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const active = await c.query<{ n: string }>('SELECT count(*) AS n FROM pg_stat_activity WHERE datname = $1', [
        name,
      ]);
      if (Number(active.rows[0]!.n) === 0) break;
      if (Date.now() > deadline) throw new Error(`connections to ${name} still open after ${timeoutMs} ms`);
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
    await c.query('SELECT pg_stat_clear_snapshot()');
    const row = (
      await c.query<{ xact_commit: string; xact_rollback: string }>(
        'SELECT xact_commit, xact_rollback FROM pg_stat_database WHERE datname = $1',
        [name],
      )
    ).rows[0];
    return { xactCommit: Number(row?.xact_commit ?? 0), xactRollback: Number(row?.xact_rollback ?? 0) };
  });
}
