import pg from 'pg';
import { BatchedTransaction } from './batched-transaction.js';
import type { Db, Queryable, TransactionOptions } from './db.js';
import { PipelinedStatements, queryPipelined } from './pipelined-statements.js';

const INT8_OID = 20;

/** Options for the PostgreSQL adapter. */
export interface PostgresDbOptions {
  connectionString: string;
  /** Pool size; long-polls do not hold connections, so a small pool serves many workers. */
  maxConnections?: number;
}

/** A `Db` on a real PostgreSQL server through a `pg` pool. */
export async function openPostgresDb(options: PostgresDbOptions): Promise<Db> {
  const types = {
    getTypeParser: ((oid: number, format?: string) =>
      oid === INT8_OID
        ? (v: string) => Number(v)
        : pg.types.getTypeParser(oid, format as 'text')) as typeof pg.types.getTypeParser,
  };
  const pool = new pg.Pool({ connectionString: options.connectionString, max: options.maxConnections ?? 10, types });
  // An idle client that loses its connection emits 'error' on the pool; without a handler Node exits.
  pool.on('error', () => {});
  await pool.query('SELECT 1');
  let listener: pg.Client | undefined;
  const handlers = new Map<string, Set<(payload: string) => void>>();

  async function ensureListener(): Promise<pg.Client> {
    if (listener) return listener;
    const client = new pg.Client({ connectionString: options.connectionString, types });
    client.on('notification', (msg) => {
      for (const h of handlers.get(msg.channel) ?? []) h(msg.payload ?? '');
    });
    client.on('error', () => {
      // Reconnect lazily; waiters still wake on their own timeouts meanwhile.
      listener = undefined;
      setTimeout(() => {
        void resubscribe();
      }, 500).unref();
    });
    await client.connect();
    listener = client;
    return client;
  }

  async function resubscribe(): Promise<void> {
    try {
      const client = await ensureListener();
      for (const channel of handlers.keys()) await client.query(`LISTEN "${channel}"`);
      // Notifications sent while the connection was down are lost: tell every handler (empty payload).
      for (const set of handlers.values()) for (const h of set) h('');
    } catch {
      setTimeout(() => {
        void resubscribe();
      }, 1000).unref();
    }
  }

  return {
    kind: 'postgres',
    async query<T>(sql: string, params?: readonly unknown[]) {
      // A prepared statement of a pooled connection, like every statement of a transaction. Built first:
      // a value that cannot be sent fails here, before a connection is taken.
      const statement = new PipelinedStatements([{ sql, params }], types);
      const client = await pool.connect();
      let broken: Error | undefined;
      try {
        return (await queryPipelined(client, statement, types))[0] as T[];
      } catch (error) {
        // An error from PostgreSQL leaves the connection usable; anything else (a lost socket) may not.
        if (!(error instanceof pg.DatabaseError)) broken = error as Error;
        throw error;
      } finally {
        client.release(broken);
      }
    },
    async exec(sql: string) {
      await pool.query(sql);
    },
    async transaction<T>(fn: (tx: Queryable) => Promise<T>, options?: TransactionOptions): Promise<T> {
      const client = await pool.connect();
      const tx = new BatchedTransaction(client, types);
      let broken: Error | undefined;
      try {
        const value = await fn(tx);
        await tx.commit(options?.notifications?.());
        return value;
      } catch (error) {
        // Pipelined like the transaction's statements, so the connection knows the ROLLBACK undid its `SET`s.
        if (!tx.unstarted) await queryPipelined(client, [{ sql: 'ROLLBACK' }], types).catch((e: Error) => (broken = e));
        tx.abandon(error);
        throw error;
      } finally {
        // A connection that cannot even roll back is closed rather than handed to the next transaction.
        client.release(broken);
      }
    },
    async listen(channel, handler) {
      if (!/^[a-z_][a-z0-9_]*$/.test(channel)) throw new Error(`invalid channel name "${channel}"`);
      let set = handlers.get(channel);
      if (!set) {
        set = new Set();
        handlers.set(channel, set);
        await (await ensureListener()).query(`LISTEN "${channel}"`);
      }
      set.add(handler);
      return async () => {
        set.delete(handler);
      };
    },
    async close() {
      handlers.clear();
      await listener?.end().catch(() => {});
      await pool.end();
    },
  };
}
