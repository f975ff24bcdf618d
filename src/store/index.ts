// The store: the `Db` interface, its PostgreSQL and PGlite adapters, the
// migrations, and the SQL of each aggregate (runs, history, tasks, timers).
// Nothing here decides anything; the engine composes these in transactions.

import type { Db } from './db.js';
import { migrate } from './migrate.js';
import { openPgliteDb } from './pglite-db.js';
import { openPostgresDb } from './postgres-db.js';

export * from './activity-tasks.js';
export * from './db.js';
export * from './history.js';
export { listMigrations, migrate } from './migrate.js';
export * from './next-visible.js';
export { openPgliteDb } from './pglite-db.js';
export * from './pollers.js';
export { openPostgresDb } from './postgres-db.js';
export * from './runs.js';
export * from './task-events.js';
export * from './timers.js';
export * from './workflow-tasks.js';

/** Where the data lives: a PostgreSQL URL, a PGlite directory, or memory. */
export interface StoreOptions {
  databaseUrl?: string | undefined;
  dataDir?: string | undefined;
  inMemory?: boolean | undefined;
  maxConnections?: number | undefined;
}

/** Opens the database the options name and applies pending migrations. */
export async function openDb(options: StoreOptions): Promise<Db> {
  const db = options.databaseUrl
    ? await openPostgresDb({
        connectionString: options.databaseUrl,
        ...(options.maxConnections ? { maxConnections: options.maxConnections } : {}),
      })
    : await openPgliteDb({ dataDir: options.inMemory ? undefined : (options.dataDir ?? '.tideway/data') });
  try {
    await migrate(db);
  } catch (error) {
    await db.close();
    throw error;
  }
  return db;
}
export * from './known-state.js';
export * from './queries.js';
export * from './updates.js';
