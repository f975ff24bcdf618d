import pg from 'pg';
import type { Statement } from './db.js';

/**
 * Several statements in one message on PostgreSQL's extended protocol, each
 * a prepared statement the connection keeps. Profiles of a busy server
 * showed half of PostgreSQL's time going to parsing and planning the same
 * few dozen statements again and again; a statement prepared once per
 * connection is parsed and analysed once. Parameters travel as parameters,
 * so any value can be batched.
 *
 * Plans are still made for each call's values (`plan_cache_mode` is set to
 * `force_custom_plan` by a connection's first message): a generic plan made
 * while a queue table was nearly empty would scan the whole queue once it
 * fills, and stay until the next ANALYZE.
 *
 * Every statement gets Parse (first use on this connection only), Bind,
 * Describe and Execute; one Sync ends the message, so PostgreSQL answers
 * all of them in one reply. An error skips the rest of the message up to
 * the Sync, exactly like a multi-statement simple query. Names the failed
 * message was creating are forgotten (never reused) and closed with the
 * connection's next message, in case PostgreSQL made them after all.
 *
 * This is a `pg` "submittable": `client.query(new PipelinedStatements(…), callback)`
 * queues it like any query, so it never overlaps another on the connection.
 */
export class PipelinedStatements {
  /** The statements' texts, in order (read by the benchmark's SQL counter). */
  readonly texts: readonly string[];
  callback: ((error: Error | null, results?: pg.QueryResult[]) => void) | undefined;
  private readonly values: (string | Buffer | null)[][];
  private readonly results: pg.QueryResult[] = [];
  private current: pg.Result;
  /** Texts whose prepared statement this message creates: forgotten if it fails before they ran. */
  private readonly created: { index: number; sql: string }[] = [];
  private names: PreparedNames | undefined;
  private rowError: Error | undefined;
  /** Answers still to come for the connection's setup, sent ahead of the statements in its first message. */
  private setupResults = 0;

  constructor(
    statements: readonly Statement[],
    private readonly types: pg.CustomTypesConfig | undefined,
  ) {
    this.texts = statements.map((s) => s.sql);
    // Converted up front: a value that cannot be sent fails the call before anything is written.
    this.values = statements.map((s) => (s.params ?? []).map((v) => prepareValue(v) as string | Buffer | null));
    this.current = this.newResult();
  }

  submit(connection: PgConnection): Error | null {
    const names = preparedNames(connection);
    this.names = names;
    connection.stream.cork?.();
    try {
      // Statements a failed message may have left prepared under names now forgotten (no error if absent).
      for (const name of names.takeOrphans()) connection.close({ type: 'S', name });
      if (!names.configured) {
        names.configured = true;
        this.setupResults = 1;
        connection.parse({ text: CONNECTION_SETUP, name: '', types: [] });
        connection.bind({ portal: '', statement: '', values: [], binary: false });
        connection.execute({ portal: '', rows: 0 });
      }
      for (const [index, sql] of this.texts.entries()) {
        let name = names.get(sql);
        if (name === undefined) {
          name = names.add(sql);
          connection.parse({ text: sql, name, types: [] });
          if (name) this.created.push({ index, sql });
        }
        connection.bind({ portal: '', statement: name, values: this.values[index], binary: false });
        connection.describe({ type: 'P', name: '' });
        connection.execute({ portal: '', rows: 0 });
      }
      connection.sync();
    } finally {
      connection.stream.uncork?.();
    }
    return null;
  }

  handleRowDescription(msg: { fields: unknown[] }): void {
    (this.current as unknown as { addFields(fields: unknown[]): void }).addFields(msg.fields);
  }

  handleDataRow(msg: { fields: unknown[] }): void {
    if (this.rowError) return;
    try {
      const result = this.current as unknown as { parseRow(f: unknown[]): unknown; addRow(r: unknown): void };
      result.addRow(result.parseRow(msg.fields));
    } catch (error) {
      this.rowError = error as Error;
    }
  }

  handleCommandComplete(msg: unknown): void {
    (this.current as unknown as { addCommandComplete(m: unknown): void }).addCommandComplete(msg);
    this.finishStatement();
  }

  handleEmptyQuery(): void {
    this.finishStatement();
  }

  handleError(error: Error): void {
    if (this.setupResults > 0 && this.names) this.names.configured = false;
    // Statements from the failed one on never ran: a name this message created for them may not exist.
    const failedAt = this.results.length;
    for (const { index, sql } of this.created) if (index >= failedAt) this.names?.forget(sql);
    this.callback?.(error);
  }

  handleReadyForQuery(): void {
    if (this.rowError) this.callback?.(this.rowError);
    else this.callback?.(null, this.results);
  }

  handlePortalSuspended(): void {}

  handleCopyInResponse(connection: PgConnection): void {
    connection.sendCopyFail('COPY is not supported in a pipelined message');
  }

  handleCopyData(): void {}

  private finishStatement(): void {
    if (this.setupResults > 0) {
      this.setupResults--;
      this.current = this.newResult();
      return;
    }
    this.results.push(this.current as unknown as pg.QueryResult);
    this.current = this.newResult();
  }

  private newResult(): pg.Result {
    return new pg.Result(undefined as unknown as 'array', this.types as never);
  }
}

/**
 * Runs the statements in one message on `client`; each one's rows. Pass a
 * `PipelinedStatements` built beforehand to find out that a value cannot be
 * sent before taking a connection (the constructor throws).
 */
export function queryPipelined(
  client: pg.ClientBase,
  statements: readonly Statement[] | PipelinedStatements,
  types: pg.CustomTypesConfig | undefined,
): Promise<unknown[][]> {
  return new Promise((resolve, reject) => {
    let batch: PipelinedStatements;
    try {
      batch = statements instanceof PipelinedStatements ? statements : new PipelinedStatements(statements, types);
    } catch (error) {
      reject(error);
      return;
    }
    // A submittable with a callback: `pg` queues it and calls back; it returns no promise.
    (client as unknown as SubmittableClient).query(batch, (error, results) => {
      if (error) reject(error);
      else resolve((results ?? []).map((r) => r.rows));
    });
  });
}

/** Sent once per connection, ahead of its first prepared statement (see the class comment). */
const CONNECTION_SETUP = 'SET plan_cache_mode = force_custom_plan';

/** Most statements kept prepared per connection; past it, new texts are parsed each time (unnamed). */
const MAX_PREPARED = 500;
let nextName = 0;

/** The prepared statements of one connection, by text. Names are never reused, so a forgotten one cannot clash. */
class PreparedNames {
  private readonly byText = new Map<string, string>();
  /** `CONNECTION_SETUP` has been sent on this connection. */
  configured = false;
  private readonly orphans: string[] = [];

  get(sql: string): string | undefined {
    return this.byText.get(sql);
  }

  /** A new name for `sql`, or '' (the unnamed statement, parsed each time) once the connection keeps enough. */
  add(sql: string): string {
    if (this.byText.size >= MAX_PREPARED) return '';
    const name = `tideway_${(nextName++).toString(36)}`;
    this.byText.set(sql, name);
    return name;
  }

  /** Forgets `sql`'s name; the statement may still exist on the server, so it is closed with the next message. */
  forget(sql: string): void {
    const name = this.byText.get(sql);
    if (name === undefined) return;
    this.byText.delete(sql);
    this.orphans.push(name);
  }

  takeOrphans(): string[] {
    return this.orphans.splice(0);
  }
}

const namesByConnection = new WeakMap<object, PreparedNames>();

function preparedNames(connection: object): PreparedNames {
  let names = namesByConnection.get(connection);
  if (!names) {
    names = new PreparedNames();
    namesByConnection.set(connection, names);
  }
  return names;
}

/** How `pg` turns a parameter into what it sends (not in its type declarations). */
const prepareValue = (pg as unknown as { utils: { prepareValue(value: unknown): unknown } }).utils.prepareValue;

/** `pg`'s client as it takes a submittable with a callback. */
interface SubmittableClient {
  query(batch: PipelinedStatements, callback: (error: Error | null, results?: pg.QueryResult[]) => void): void;
}

/** The parts of `pg`'s connection a submittable writes to (not in its type declarations). */
interface PgConnection {
  stream: { cork?(): void; uncork?(): void };
  parse(query: { text: string; name: string; types: number[] }): void;
  bind(config: { portal: string; statement: string; values: unknown[] | undefined; binary: boolean }): void;
  describe(msg: { type: 'P' | 'S'; name: string }): void;
  execute(config: { portal: string; rows: number }): void;
  sync(): void;
  close(msg: { type: 'S'; name: string }): void;
  sendCopyFail(message: string): void;
}
