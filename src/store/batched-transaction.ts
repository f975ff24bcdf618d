import pg from 'pg';
import type { Queryable, Statement } from './db.js';

/**
 * A PostgreSQL transaction that sends fewer round trips. `pg` waits for
 * each statement's answer before it sends the next, and a state transition
 * is a dozen short statements, so waiting, not work, is most of its time.
 * Here BEGIN and the writes whose results nobody reads (`defer`) are held
 * back and sent in one simple-protocol message together with the next
 * statement that must answer, or with the NOTIFYs and COMMIT at the end.
 * Statements still run in the order they were issued, in the same
 * transaction, so what commits is unchanged; only an error of a deferred
 * write surfaces at the next statement instead of its own call, and the
 * whole transaction rolls back as before.
 *
 * The simple protocol takes no parameters, so held-back statements are
 * sent with their parameters written in as literals: each value is
 * converted exactly as `pg` converts a parameter, then escaped by `pg`.
 * Statements that cannot be written out that way (dollar-quoted text,
 * comments, binary values, a statement that must answer and has non-text values)
 * are sent on their own, as before, after what was held back.
 */
/** A statement held back; a read's answer goes to whoever asked for it once the statement has been sent. */
interface Held {
  sql: string;
  read?: { resolve(rows: unknown[]): void; reject(error: unknown): void };
}

export class BatchedTransaction implements Queryable {
  private pending: Held[] = [{ sql: 'BEGIN' }];

  constructor(private readonly client: pg.PoolClient) {}

  async query<R>(sql: string, params?: readonly unknown[]): Promise<R[]> {
    if (this.pending.length === 0) return (await this.client.query(sql, params as unknown[])).rows as R[];
    const inlined = inlineParameters(sql, params, { onlyText: true });
    if (inlined === undefined) {
      await this.flush();
      return (await this.client.query(sql, params as unknown[])).rows as R[];
    }
    return (await this.send([...this.take(), { sql: inlined }])).at(-1) as R[];
  }

  /** Statements that must all answer, in one message with what is held back when all can be written out. */
  async queryEach(statements: readonly Statement[]): Promise<unknown[][]> {
    const inlined = statements.map((s) => inlineParameters(s.sql, s.params, { onlyText: true }));
    if (inlined.some((sql) => sql === undefined)) {
      const results: unknown[][] = [];
      for (const s of statements) results.push(await this.query(s.sql, s.params));
      return results;
    }
    const results = await this.send([...this.take(), ...(inlined as string[]).map((sql) => ({ sql }))]);
    return results.slice(-statements.length);
  }

  /**
   * A read whose answer is not needed before the transaction ends: held back
   * like a deferred write and sent with the next statement that must answer,
   * or with the COMMIT. The promise settles when it has been sent; it sees
   * every write issued before it.
   */
  readLater(sql: string, params?: readonly unknown[]): Promise<unknown[]> {
    const inlined = inlineParameters(sql, params, { onlyText: true });
    if (inlined === undefined) return this.query(sql, params);
    return new Promise((resolve, reject) => {
      this.pending.push({ sql: inlined, read: { resolve, reject } });
    });
  }

  async exec(sql: string): Promise<void> {
    await this.flush();
    await this.client.query(sql);
  }

  /** A write whose result is not needed: sent with the next statement that must answer, or at commit. */
  async defer(sql: string, params?: readonly unknown[]): Promise<void> {
    const inlined = inlineParameters(sql, params);
    if (inlined === undefined) await this.query(sql, params);
    else this.pending.push({ sql: inlined });
  }

  /** Sends what is held back, the notifications and COMMIT, in one message. */
  async commit(notifications?: { channel: string; payloads: readonly string[] }): Promise<void> {
    const statements = this.take();
    if (notifications && notifications.payloads.length > 0) {
      const channel = pg.escapeLiteral(notifications.channel);
      const calls = notifications.payloads.map((payload) => `pg_notify(${channel}, ${pg.escapeLiteral(payload)})`);
      statements.push({ sql: `SELECT ${calls.join(', ')}` });
    }
    statements.push({ sql: 'COMMIT' });
    await this.send(statements);
  }

  /** The transaction ended without committing: reads still held back will never be answered. */
  abandon(error: unknown): void {
    for (const held of this.take()) held.read?.reject(error);
  }

  /** True if BEGIN was never sent: nothing to roll back. */
  get unstarted(): boolean {
    return this.pending[0]?.sql === 'BEGIN';
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
      const result = (await this.client.query(statements.map((s) => s.sql).join(';\n'))) as
        | pg.QueryResult
        | pg.QueryResult[];
      results = (Array.isArray(result) ? result : [result]).map((r) => r.rows ?? []);
    } catch (error) {
      for (const held of statements) held.read?.reject(error);
      throw error;
    }
    for (const [i, held] of statements.entries()) held.read?.resolve(results[i] ?? []);
    return results;
  }
}

/** How `pg` turns a parameter into the text it sends (not in its type declarations). */
const prepareValue = (pg as unknown as { utils: { prepareValue(value: unknown): unknown } }).utils.prepareValue;

/**
 * The statement with `$n` replaced by its parameter as a literal, or
 * undefined when that cannot be done safely. Placeholders inside quoted
 * text or identifiers are left alone.
 */
export function inlineParameters(
  sql: string,
  params?: readonly unknown[],
  options: { onlyText?: boolean } = {},
): string | undefined {
  if (!params || params.length === 0) return sql;
  // Dollar quotes (tagged too), comments (an apostrophe in one) and E'' strings (\' inside) would mislead
  // the scan for placeholders below.
  if (/\$([A-Za-z_][A-Za-z0-9_]*)?\$|--|\/\*|\bE'/i.test(sql)) return undefined;
  // A literal is typed by each place it appears, a parameter once for all of them: `$1 + int_col` with a
  // large number is bigint as a parameter but integer (overflow) as a literal. Strings compared with
  // columns resolve alike either way, so any statement may be inlined when all its values are strings;
  // other values only in the writes callers chose to defer, whose statements are written for it.
  if (options.onlyText && params.some((value) => typeof value !== 'string' && value !== null)) return undefined;
  const literals: string[] = [];
  for (const value of params) {
    const prepared = prepareValue(value);
    if (prepared === null || prepared === undefined) literals.push('NULL');
    else if (typeof prepared === 'string') literals.push(pg.escapeLiteral(prepared));
    else return undefined; // binary (a Buffer): only the extended protocol carries it as is
  }
  let out = '';
  let quote: string | undefined;
  for (let i = 0; i < sql.length; i++) {
    const ch = sql[i]!;
    if (quote) {
      if (ch === quote) quote = undefined;
      out += ch;
      continue;
    }
    if (ch === "'" || ch === '"') {
      quote = ch;
      out += ch;
      continue;
    }
    if (ch === '$' && /[0-9]/.test(sql[i + 1] ?? '')) {
      let j = i + 1;
      while (j < sql.length && /[0-9]/.test(sql[j]!)) j++;
      const index = Number(sql.slice(i + 1, j)) - 1;
      if (index < 0 || index >= literals.length) return undefined;
      out += literals[index];
      i = j - 1;
      continue;
    }
    out += ch;
  }
  return quote ? undefined : out;
}
