import { randomBytes } from 'node:crypto';
import pg from 'pg';

/**
 * Which store the cross-layer suites run on: each test/ file runs once in the
 * `pglite` project and once in the `postgres` project. On PostgreSQL every
 * test gets a fresh database, dropped afterwards. When PostgreSQL is not
 * reachable, postgres runs are skipped — unless TIDEWAY_REQUIRE_POSTGRES=1
 * (as in CI), where that is a failure.
 */
export type Backend = 'pglite' | 'postgres';

export const BACKEND: Backend = process.env.TIDEWAY_TEST_BACKEND === 'postgres' ? 'postgres' : 'pglite';

export const ADMIN_DATABASE_URL = process.env.TIDEWAY_TEST_DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/test';

let reachable: Promise<boolean> | undefined;

export function postgresReachable(): Promise<boolean> {
  reachable ??= (async () => {
    const client = new pg.Client({ connectionString: ADMIN_DATABASE_URL, connectionTimeoutMillis: 2000 });
    try {
      await client.connect();
      await client.end();
      return true;
    } catch (error) {
      if (process.env.TIDEWAY_REQUIRE_POSTGRES === '1') {
        throw new Error(`PostgreSQL at ${ADMIN_DATABASE_URL} is required but unreachable: ${(error as Error).message}`);
      }
      return false;
    }
  })();
  return reachable;
}

/** True when this run should be skipped: the postgres project with no PostgreSQL to talk to. */
export async function skipBackend(): Promise<boolean> {
  return BACKEND === 'postgres' && !(await postgresReachable());
}

/** A fresh, empty database on the PostgreSQL server, and a function that drops it. */
export async function createTestDatabase(): Promise<{ url: string; drop: () => Promise<void> }> {
  const name = `tideway_t_${randomBytes(6).toString('hex')}`;
  const admin = new pg.Client({ connectionString: ADMIN_DATABASE_URL });
  await admin.connect();
  await admin.query(`CREATE DATABASE ${name}`);
  await admin.end();
  const url = new URL(ADMIN_DATABASE_URL);
  url.pathname = `/${name}`;
  return {
    url: url.toString(),
    async drop() {
      const c = new pg.Client({ connectionString: ADMIN_DATABASE_URL });
      await c.connect();
      await c.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
      await c.end();
    },
  };
}

/** Store options for this backend: a fresh PostgreSQL database or in-memory PGlite. */
export async function storeOptions(): Promise<{
  options: { databaseUrl?: string; inMemory?: boolean };
  cleanup: () => Promise<void>;
}> {
  if (BACKEND === 'postgres') {
    const db = await createTestDatabase();
    return { options: { databaseUrl: db.url }, cleanup: db.drop };
  }
  return { options: { inMemory: true }, cleanup: async () => {} };
}
