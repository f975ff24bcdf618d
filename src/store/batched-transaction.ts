import type pg from 'pg';
import { genericPlan, type Queryable, type Statement } from './db.js';
import { queryPipelined } from './pipelined-statements.js';

/**
 * A PostgreSQL transaction that sends fewer round trips. `pg` waits for
 * each statement's answer before it sends the next, and a state transition
 * is a dozen short statements, so waiting, not work, is most of its time.
 * Here BEGIN and the writes whose results nobody reads (`defer`) are held
 * back and sent in one message (see `PipelinedStatements`) together with
 * the next statement that must answer, or with the NOTIFYs and COMMIT at
 * the end. Statements still run in the order they were issued, in the same
 * transaction, so what commits is unchanged; only an error of a deferred
 * write surfaces at the next statement instead of its own call, and the
 * whole transaction rolls back as before.
 */
/** A statement held back; a read's answer goes to whoever asked for it once the statement has been sent. */
interface Held {
  statement: Statement;
  read?: { resolve(rows: unknown[]): void; reject(error: unknown): void };
}

/** The NOTIFYs of a commit, one statement whatever their number (so it stays one prepared statement). */
const NOTIFY_SQL = genericPlan('SELECT pg_notify($1, payload) FROM unnest($2::text[]) AS payload');

export class BatchedTransaction implements Queryable {
  private pending: Held[] = [{ statement: { sql: 'BEGIN' } }];
  /** Sent whole in one message without BEGIN: PostgreSQL ended it at the message's Sync, committed or not. */
  private implicit = false;

  constructor(
    private readonly client: pg.PoolClient,
    private readonly types?: pg.CustomTypesConfig,
  ) {}

  async query<R>(sql: string, params?: readonly unknown[]): Promise<R[]> {
    return (await this.send([...this.take(), { statement: { sql, params } }])).at(-1) as R[];
  }

  /** Statements that must all answer, in one message with what is held back. */
  async queryEach(statements: readonly Statement[]): Promise<unknown[][]> {
    const results = await this.send([...this.take(), ...statements.map((statement) => ({ statement }))]);
    return results.slice(-statements.length);
  }

  /**
   * A read whose answer is not needed before the transaction ends: held back
   * like a deferred write and sent with the next statement that must answer,
   * or with the COMMIT. The promise settles when it has been sent; it sees
   * every write issued before it.
   */
  readLater(sql: string, params?: readonly unknown[]): Promise<unknown[]> {
    return new Promise((resolve, reject) => {
      this.pending.push({ statement: { sql, params }, read: { resolve, reject } });
    });
  }

  /** A script of several statements without parameters (simple protocol), after what is held back. */
  async exec(sql: string): Promise<void> {
    await this.flush();
    await this.client.query(sql);
  }

  /** A write whose result is not needed: sent with the next statement that must answer, or at commit. */
  async defer(sql: string, params?: readonly unknown[]): Promise<void> {
    this.pending.push({ statement: { sql, params } });
  }

  /**
   * Sends what is held back, the notifications and COMMIT, in one message.
   * A transaction that never had to send anything before (BEGIN still held
   * back) goes without BEGIN and COMMIT: statements of one extended-protocol
   * message up to its Sync are one implicit transaction, committed at the
   * Sync and rolled back whole if any of them fails. Two statements fewer
   * for PostgreSQL to run and answer, per step of a workflow.
   */
  async commit(notifications?: { channel: string; payloads: readonly string[] }): Promise<void> {
    const statements = this.take();
    this.implicit = statements[0]?.statement.sql === 'BEGIN';
    if (this.implicit) statements.shift();
    if (notifications && notifications.payloads.length > 0) {
      statements.push({ statement: { sql: NOTIFY_SQL, params: [notifications.channel, notifications.payloads] } });
    }
    if (!this.implicit) statements.push({ statement: { sql: 'COMMIT' } });
    if (statements.length > 0) await this.send(statements);
  }

  /** The transaction ended without committing: reads still held back will never be answered. */
  abandon(error: unknown): void {
    for (const held of this.take()) held.read?.reject(error);
  }

  /** True if BEGIN was never sent: nothing to roll back (a one-message transaction ended with its message). */
  get unstarted(): boolean {
    return this.implicit || this.pending[0]?.statement.sql === 'BEGIN';
  }

  private async flush(): Promise<void> {
    if (this.pending.length > 0) await this.send(this.take());
  }

  private take(): Held[] {
    const statements = this.pending;
    this.pending = [];
    return statements;
  }

  /** One message, several statements; the rows of each, also handed to the reads among them. */
  private async send(statements: Held[]): Promise<unknown[][]> {
    let results: unknown[][];
    try {
      results = await queryPipelined(
        this.client,
        statements.map((s) => s.statement),
        this.types,
      );
    } catch (error) {
      for (const held of statements) held.read?.reject(error);
      throw error;
    }
    for (const [i, held] of statements.entries()) held.read?.resolve(results[i] ?? []);
    return results;
  }
}
