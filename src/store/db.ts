/**
 * The small database interface the store is written against. Two
 * implementations: PostgreSQL through `pg`, and embedded PGlite. SQL is
 * plain parameterised Postgres that runs on both.
 */
export interface Queryable {
  query<T = Record<string, unknown>>(sql: string, params?: readonly unknown[]): Promise<T[]>;
  /** Runs a script of several statements with no parameters (migrations). */
  exec(sql: string): Promise<void>;
  /**
   * A write whose result nobody reads; a transaction may send it with its
   * next statement instead of on its own (see `BatchedTransaction`). Absent
   * where there is nothing to gain: use `writeLater`.
   */
  defer?(sql: string, params?: readonly unknown[]): Promise<void>;
  /** A read answered when the transaction next sends; absent where there is nothing to gain: use `readLater`. */
  readLater?(sql: string, params?: readonly unknown[]): Promise<unknown[]>;
  /** Several statements in order, each one's rows; absent where there is nothing to gain: use `queryEach`. */
  queryEach?(statements: readonly Statement[]): Promise<unknown[][]>;
}

/**
 * A read whose answer is needed only once the transaction has ended (what
 * a transition hands back to its caller): on a PostgreSQL transaction it is
 * sent with the COMMIT or the next statement that must answer, saving a
 * round trip. Call the returned function after the transaction resolved;
 * elsewhere the read runs at once. It sees every write issued before it.
 */
export async function readLater<T>(q: Queryable, statement: Statement): Promise<() => Promise<T[]>> {
  if (!q.readLater) {
    const rows = await q.query<T>(statement.sql, statement.params);
    return async () => rows;
  }
  const rows = q.readLater(statement.sql, statement.params) as Promise<T[]>;
  rows.catch(() => {}); // a transaction that fails reports its own error; nobody may ask for these rows
  return () => rows;
}

/**
 * Marks a statement whose plan PostgreSQL may make once per connection and
 * keep (a generic plan), instead of planning it for each call's values.
 * Only for statements whose best plan cannot change as tables fill or
 * empty: lookups and writes by a full primary key, inserts of values.
 * `test/generic-plans.test.ts` checks every marked statement's plan on
 * empty, never-analysed tables, where a wrong choice is likeliest. The mark
 * is a comment, so the text stays plain SQL for PGlite and the logs.
 */
export function genericPlan(sql: string): string {
  return GENERIC_PLAN_MARK + sql;
}

const GENERIC_PLAN_MARK = '/* generic plan */ ';

export function isGenericPlan(sql: string): boolean {
  return sql.startsWith(GENERIC_PLAN_MARK);
}

/** A statement and its parameters. */
export interface Statement {
  sql: string;
  params?: readonly unknown[];
}

/**
 * Runs statements one after another and returns each one's rows. A
 * PostgreSQL transaction sends them in one message when it can (see
 * `BatchedTransaction`). Each statement still sees what committed before it
 * started, exactly as if sent alone (READ COMMITTED takes a snapshot per
 * statement, in one message too), so a read after a lock sees the rows
 * committed while the lock was waited for.
 */
export async function queryEach(q: Queryable, statements: readonly Statement[]): Promise<unknown[][]> {
  if (q.queryEach) return q.queryEach(statements);
  const results: unknown[][] = [];
  for (const s of statements) results.push(await q.query(s.sql, s.params));
  return results;
}

/** Runs a write whose result is not needed, as late as the transaction allows. */
export async function writeLater(q: Queryable, sql: string, params?: readonly unknown[]): Promise<void> {
  if (q.defer) await q.defer(sql, params);
  else await q.query(sql, params);
}

export interface TransactionOptions {
  notifications?: () => { channel: string; payloads: readonly string[] };
}

export interface Db extends Queryable {
  readonly kind: 'postgres' | 'pglite';
  /**
   * Runs `fn` in one transaction: committed if it resolves, rolled back if it
   * throws. `options.notifications`, asked once `fn` resolved, are NOTIFYs
   * sent on commit: on PostgreSQL in the same round trip as the COMMIT (one
   * fewer per transition); PGlite, one process, has no NOTIFY to send.
   */
  transaction<T>(fn: (tx: Queryable) => Promise<T>, options?: TransactionOptions): Promise<T>;
  /**
   * Calls `handler` for every NOTIFY on `channel` (from any connection, after commit), and with an
   * empty payload when notifications may have been missed (the listening connection was re-established).
   */
  listen(channel: string, handler: (payload: string) => void): Promise<() => Promise<void>>;
  close(): Promise<void>;
}

/** Postgres error code for a unique-constraint violation. */
export const UNIQUE_VIOLATION = '23505';

/** Error code raised by a guarded run update that matched no row (migration 011). */
export const RUN_MOVED_CONCURRENTLY = 'TWRUN';

export function isRunMovedConcurrently(error: unknown): boolean {
  return typeof error === 'object' && error !== null && (error as { code?: unknown }).code === RUN_MOVED_CONCURRENTLY;
}

/** Error code raised by the guard of a start that expected a workflow id without runs (migration 012). */
export const WORKFLOW_ID_USED = 'TWUSE';

export function isWorkflowIdUsed(error: unknown): boolean {
  return typeof error === 'object' && error !== null && (error as { code?: unknown }).code === WORKFLOW_ID_USED;
}

/** Error code raised by a guard that found a run not as the engine last knew it (migration 014). */
export const KNOWN_STATE_STALE = 'TWSTL';

export function isKnownStateStale(error: unknown): boolean {
  return typeof error === 'object' && error !== null && (error as { code?: unknown }).code === KNOWN_STATE_STALE;
}

/** Postgres error code for a `NOWAIT` lock that another transaction holds. */
export const LOCK_NOT_AVAILABLE = '55P03';

export function isLockNotAvailable(error: unknown): boolean {
  return typeof error === 'object' && error !== null && (error as { code?: unknown }).code === LOCK_NOT_AVAILABLE;
}

export function isUniqueViolation(error: unknown): boolean {
  return typeof error === 'object' && error !== null && (error as { code?: unknown }).code === UNIQUE_VIOLATION;
}
