import { mkdirSync } from 'node:fs';
import { PGlite } from '@electric-sql/pglite';
import type { Db, Queryable } from './db.js';

/** A `Db` on embedded PGlite: a directory on disk, or memory when `dataDir` is undefined. */
export async function openPgliteDb(options: { dataDir?: string | undefined } = {}): Promise<Db> {
  if (options.dataDir) mkdirSync(options.dataDir, { recursive: true });
  const pglite = options.dataDir ? new PGlite(options.dataDir) : new PGlite();
  await pglite.waitReady;
  const run = async <T>(q: Pick<PGlite, 'query'>, sql: string, params?: readonly unknown[]) =>
    (await q.query<T>(sql, params as unknown[])).rows;
  return {
    kind: 'pglite',
    query: (sql, params) => run(pglite, sql, params),
    exec: async (sql) => {
      await pglite.exec(sql);
    },
    transaction<T>(fn: (tx: Queryable) => Promise<T>): Promise<T> {
      // PGlite is one connection: its transaction() holds an exclusive lock, so
      // other queries wait until this one commits or rolls back.
      return pglite.transaction((tx) =>
        fn({
          query: (sql, params) => run(tx, sql, params),
          exec: async (sql) => {
            await tx.exec(sql);
          },
        }),
      );
    },
    async listen(channel, handler) {
      const unlisten = await pglite.listen(channel, handler);
      return unlisten;
    },
    close: () => pglite.close(),
  };
}
