import pg from 'pg';
import {
  type PlanMode,
  type PreparedNames,
  preparedNames,
  type RowShape,
  readRow,
  rowShape,
} from './connection-statements.js';
import { isGenericPlan, type Statement } from './db.js';

/**
 * Several statements in one message on PostgreSQL's extended protocol, each
 * a prepared statement the connection keeps. Profiles of a busy server
 * showed half of PostgreSQL's time going to parsing and planning the same
 * few dozen statements again and again; a statement prepared once per
 * connection is parsed and analysed once. Parameters travel as parameters,
 * so any value can be batched.
 *
 * Plans: a statement marked with `genericPlan` (see `db.ts`) keeps one plan
 * per connection, made once; every other statement is planned for each
 * call's values. Planning was a third of PostgreSQL's time on the hot path,
 * but a plan kept from when a queue table was nearly empty can scan the
 * whole queue once it fills, and stay until the next ANALYZE; only
 * statements whose plan cannot go wrong that way are marked: lookups by
 * primary key, which no other index can serve (migration 013), planned with
 * sequential scans off (`test/generic-plans.test.ts` checks them on empty
 * tables). The mode is PostgreSQL's
 * `plan_cache_mode`, read when a statement is bound: a switch goes ahead of
 * a statement whenever the connection is, or may be, in the other mode.
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
  /** Rows of the statement being answered. */
  private rows: Record<string, unknown>[] = [];
  /** Texts whose prepared statement this message creates: forgotten if it fails before they ran. */
  private readonly created: { index: number; sql: string }[] = [];
  private names: PreparedNames | undefined;
  private rowError: Error | undefined;
  /** Every Execute sent, in order; `executed` of them have been answered. */
  private readonly executes: Execute[] = [];
  private executed = 0;

  constructor(
    statements: readonly Statement[],
    private readonly types: pg.CustomTypesConfig | undefined,
  ) {
    this.texts = statements.map((s) => s.sql);
    // Converted up front: a value that cannot be sent fails the call before anything is written.
    this.values = statements.map((s) => (s.params ?? []).map((v) => prepareValue(v) as string | Buffer | null));
    this.current = this.newResult();
  }

  /** Switches of the plan mode sent ahead of statements, once submitted (read by the benchmark's SQL counter). */
  get planModeSwitches(): number {
    return this.executes.filter((e) => e.planModeSwitch).length;
  }

  submit(connection: PgConnection): Error | null {
    const names = preparedNames(connection);
    this.names = names;
    connection.stream.cork?.();
    try {
      // Statements a failed message may have left prepared under names now forgotten (no error if absent).
      for (const name of names.takeOrphans()) connection.close({ type: 'S', name });
      for (const [index, sql] of this.texts.entries()) {
        const mode = planModeOf(sql);
        if (mode !== undefined && mode !== names.planMode) {
          this.execute(connection, names, PLAN_MODE_SQL[mode], index, true);
          names.planMode = mode;
        }
        this.execute(connection, names, sql, index, false);
        // A ROLLBACK undoes the switches made in its transaction.
        if (ROLLBACK.test(sql)) names.planMode = undefined;
      }
      connection.sync();
    } finally {
      connection.stream.uncork?.();
    }
    return null;
  }

  /** Bind, Describe and Execute `sql`, after a Parse if this connection has not prepared it yet. */
  private execute(
    connection: PgConnection,
    names: PreparedNames,
    sql: string,
    index: number,
    planModeSet: boolean,
  ): void {
    let name = names.get(sql);
    if (name === undefined) {
      name = names.add(sql);
      connection.parse({ text: sql, name, types: [] });
      if (name) this.created.push({ index, sql });
    }
    connection.bind({ portal: '', statement: name, values: planModeSet ? [] : this.values[index], binary: false });
    // A statement this connection has run before is not described again: its rows read as they did then.
    const shape = name ? names.shapeOf(name) : undefined;
    if (shape === undefined) connection.describe({ type: 'P', name: '' });
    connection.execute({ portal: '', rows: 0 });
    this.executes.push({ name, planModeSwitch: planModeSet, described: shape === undefined, shape });
  }

  handleRowDescription(msg: { fields: { name: string; dataTypeID: number }[] }): void {
    const execute = this.executes[this.executed];
    if (!execute) return;
    execute.shape = rowShape(msg.fields, this.types, pg.types);
    if (execute.name) this.names?.setShape(execute.name, execute.shape);
  }

  handleDataRow(msg: { fields: (string | null)[] }): void {
    if (this.rowError) return;
    try {
      const shape = this.executes[this.executed]?.shape;
      if (!shape) throw new Error('PostgreSQL sent a row for a statement without columns');
      this.rows.push(readRow(shape, msg.fields));
    } catch (error) {
      this.rowError = error as Error;
    }
  }

  handleCommandComplete(msg: unknown): void {
    const execute = this.executes[this.executed];
    // Described, and no description came back: the statement returns no rows.
    if (execute?.described && execute.shape === undefined && execute.name) this.names?.setShape(execute.name, null);
    (this.current as unknown as { addCommandComplete(m: unknown): void }).addCommandComplete(msg);
    this.finishStatement();
  }

  handleEmptyQuery(): void {
    this.finishStatement();
  }

  handleError(error: Error): void {
    // A failed transaction undoes its switches: the next statement sets the mode it needs.
    if (this.names) this.names.planMode = undefined;
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
    const result = this.current;
    result.rows = this.rows;
    this.rows = [];
    this.current = this.newResult();
    if (!this.executes[this.executed++]?.planModeSwitch) this.results.push(result as unknown as pg.QueryResult);
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

/**
 * A generic plan is made without the values, and on an empty or
 * just-analysed table a sequential scan looks cheapest: it would then be
 * kept as the table fills. Marked statements all read by an index, so
 * sequential scans are off while they are planned.
 */
const PLAN_MODE_SQL: Record<PlanMode, string> = {
  generic:
    "SELECT set_config('plan_cache_mode', 'force_generic_plan', false), set_config('enable_seqscan', 'off', false)",
  custom: "SELECT set_config('plan_cache_mode', 'force_custom_plan', false), set_config('enable_seqscan', 'on', false)",
};

/** Statements PostgreSQL plans; others (BEGIN, COMMIT, SET…) run in either mode, so never wait for a switch. */
const PLANNED = /^\s*(?:\/\*[^*]*\*\/\s*)?(?:SELECT|INSERT|UPDATE|DELETE|WITH|VALUES|MERGE|TABLE)\b/i;
const ROLLBACK = /^\s*(?:ROLLBACK|ABORT)\b/i;

/** The plan mode `sql` needs, or undefined if it is not planned. */
function planModeOf(sql: string): PlanMode | undefined {
  if (isGenericPlan(sql)) return 'generic';
  return PLANNED.test(sql) ? 'custom' : undefined;
}

/** One statement of a message as sent: how its answer is read. */
interface Execute {
  /** Its prepared statement's name ('' for the unnamed statement). */
  name: string;
  /** A switch of the plan mode, whose answer nobody asked for. */
  planModeSwitch: boolean;
  /** Sent with a Describe: its description, or the lack of one, is learnt from the answer. */
  described: boolean;
  /** How its rows read (null: it returns none); undefined until its description arrives. */
  shape: RowShape | null | undefined;
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
