// Counts the SQL a process sends to PostgreSQL, per database, by wrapping
// `pg.Client.prototype.query` (pg_stat_statements is not loaded on the
// benchmark machine, and it could not tell our database's write transactions
// apart either). Every client of the process goes through it: Tideway's
// pool and LISTEN connection, DBOS's pool and its listener.
//
// Counted per database: statements as sent on the wire (BEGIN and COMMIT
// included); committed transactions (explicit blocks whose COMMIT succeeded,
// messages of several statements sent outside a block, which PostgreSQL runs
// as one implicit transaction, plus every lone statement sent outside a
// block, which it commits on its own); and write transactions among them: those that changed something,
// i.e. an INSERT/UPDATE/DELETE/MERGE or SELECT … FOR UPDATE/SHARE that
// reported rows, or a NOTIFY or DDL statement (these assign a transaction
// id). A claim that finds nothing to claim is not a write.
import pg from 'pg';

export interface SqlCounts {
  statements: number;
  /** Messages sent: a round trip each. Fewer than statements when one message carries several. */
  roundTrips: number;
  transactions: number;
  writeTransactions: number;
  /** Statements by shape (the first words of the SQL, whitespace collapsed). */
  shapes?: Record<string, number>;
}

const BEGIN = /^\s*(BEGIN|START\s+TRANSACTION)\b/i;
const COMMIT = /^\s*(COMMIT|END)\b/i;
const ROLLBACK = /^\s*(ROLLBACK|ABORT)\b(?!\s+(WORK\s+|TRANSACTION\s+)?TO\b)/i;
/** Writes when they report affected or locked rows. */
const ROW_WRITE = /\b(INSERT|UPDATE|DELETE|MERGE|SHARE)\b/i;
/** Writes whatever they report. */
const ALWAYS_WRITE = /\b(NOTIFY|pg_notify|CREATE|ALTER|DROP|TRUNCATE|GRANT)\b/i;

interface Block {
  write: boolean;
}

const countsByDatabase = new Map<string, Required<SqlCounts>>();
const openBlocks = new WeakMap<object, Block>();
const skipped = new WeakSet<object>();
let installed = false;

/**
 * The statements one `query()` call sends: a string or query config (with
 * parameters one statement, without possibly several separated by
 * semicolons), or Tideway's pipelined message (`texts`: one per statement).
 */
function statementsOf(args: unknown[]): string[] | undefined {
  const [arg, values] = args;
  if (arg && typeof arg === 'object' && Array.isArray((arg as { texts?: unknown }).texts)) {
    return [...(arg as { texts: string[] }).texts];
  }
  const sql =
    typeof arg === 'string'
      ? arg
      : arg && typeof arg === 'object' && typeof (arg as { text?: unknown }).text === 'string'
        ? (arg as { text: string }).text
        : undefined;
  if (sql === undefined) return undefined;
  return Array.isArray(values) && values.length > 0 ? [sql] : splitStatements(sql);
}

function countsFor(database: string): Required<SqlCounts> {
  let counts = countsByDatabase.get(database);
  if (!counts) {
    counts = { statements: 0, roundTrips: 0, transactions: 0, writeTransactions: 0, shapes: {} };
    countsByDatabase.set(database, counts);
  }
  return counts;
}

function wrote(text: TextClass, result: unknown): boolean {
  if (text.alwaysWrite) return true;
  if (!text.rowWrite) return false;
  const results = Array.isArray(result) ? result : [result];
  return results.some((r) => ((r as { rowCount?: number | null } | undefined)?.rowCount ?? 0) > 0);
}

/** What the counter needs to know of a statement's text. */
interface TextClass {
  shape: string;
  begin: boolean;
  commit: boolean;
  rollback: boolean;
  alwaysWrite: boolean;
  rowWrite: boolean;
}

/**
 * Classes of texts seen, so counting costs a lookup, not a handful of regular expressions, per
 * statement (the counter runs inside the measured processes). Bounded: texts with literals are each new.
 */
const classes = new Map<string, TextClass>();
const MAX_REMEMBERED_TEXTS = 10_000;

function classOf(sql: string): TextClass {
  let known = classes.get(sql);
  if (known === undefined) {
    known = {
      shape: computeShape(sql),
      begin: BEGIN.test(sql),
      commit: COMMIT.test(sql),
      rollback: ROLLBACK.test(sql),
      alwaysWrite: ALWAYS_WRITE.test(sql),
      rowWrite: ROW_WRITE.test(sql),
    };
    if (classes.size < MAX_REMEMBERED_TEXTS) classes.set(sql, known);
  }
  return known;
}

function computeShape(sql: string): string {
  // Values written into the text as literals (held-back writes) would make every statement its own shape.
  const flat = sql
    .replace(/^\s*\/\*[^*]*\*\/\s*/, '')
    .replace(/\s+/g, ' ')
    .replace(/\s?E?'(?:[^']|'')*'/g, ' ?')
    .trim();
  return flat.length > 90 ? `${flat.slice(0, 90)}…` : flat;
}

/**
 * Classifies one message when it is sent, and returns what to do with its
 * result once it arrives (pg runs a client's queries in order, so a block's
 * statements have all reported by the time its COMMIT does). A message may
 * carry several statements (Tideway sends a transition's statements, its
 * NOTIFYs and its COMMIT together): each counts as a statement, the message
 * as one round trip.
 */
function record(client: object & { database?: string }, parts: string[]): (result: unknown) => void {
  const counts = countsFor(client.database ?? '?');
  counts.roundTrips++;
  // Several statements outside a block, none of them BEGIN, COMMIT or ROLLBACK: PostgreSQL runs them as one
  // implicit transaction (up to the Sync of an extended-protocol message, or the end of a simple query).
  const implicit =
    parts.length > 1 &&
    !openBlocks.has(client) &&
    parts.every((part) => {
      const text = classOf(part);
      return !text.begin && !text.commit && !text.rollback;
    });
  const block = { write: false };
  if (implicit) openBlocks.set(client, block);
  const handlers = parts.map((part) => recordStatement(client, counts, part));
  if (implicit) {
    openBlocks.delete(client);
    handlers.push(() => {
      counts.transactions++;
      if (block.write) counts.writeTransactions++;
    });
  }
  return (result) => {
    // A multi-statement message reports an array of results, one per statement.
    const results = parts.length > 1 && Array.isArray(result) ? result : [result];
    handlers.forEach((handle, i) => {
      handle(results[i]);
    });
  };
}

function recordStatement(client: object, counts: Required<SqlCounts>, sql: string): (result: unknown) => void {
  counts.statements++;
  const text = classOf(sql);
  counts.shapes[text.shape] = (counts.shapes[text.shape] ?? 0) + 1;
  const block = openBlocks.get(client);
  if (text.begin) {
    openBlocks.set(client, { write: false });
    return () => {};
  }
  if (block && text.commit) {
    openBlocks.delete(client);
    return () => {
      counts.transactions++;
      if (block.write) counts.writeTransactions++;
    };
  }
  if (block && text.rollback) {
    openBlocks.delete(client);
    return () => {};
  }
  if (block) {
    // Marked when sent, so a COMMIT in the same message sees it.
    if (text.alwaysWrite) block.write = true;
    return (result) => {
      if (wrote(text, result)) block.write = true;
    };
  }
  return (result) => {
    counts.transactions++;
    if (wrote(text, result)) counts.writeTransactions++;
  };
}

/** Tideway's switches between kept and per-call plans, sent ahead of the statements that need them. */
function countPlanModeSwitches(client: object & { database?: string }, message: unknown): void {
  const switches = (message as { planModeSwitches?: unknown } | undefined)?.planModeSwitches;
  if (typeof switches !== 'number' || switches === 0) return;
  const counts = countsFor(client.database ?? '?');
  counts.statements += switches;
  counts.shapes['(plan mode switch)'] = (counts.shapes['(plan mode switch)'] ?? 0) + switches;
}

/** Splits a parameterless message on semicolons outside quoted literals. */
function splitStatements(sql: string): string[] {
  const parts: string[] = [];
  let current = '';
  let quoted = false;
  for (const ch of sql) {
    if (ch === "'") quoted = !quoted;
    if (ch === ';' && !quoted) {
      if (current.trim()) parts.push(current.trim());
      current = '';
    } else current += ch;
  }
  if (current.trim()) parts.push(current.trim());
  return parts.length > 0 ? parts : [sql];
}

/** Starts counting (idempotent). Statements sent before this are not counted. */
export function installSqlCounter(): void {
  if (installed) return;
  installed = true;
  const original = pg.Client.prototype.query as (...args: unknown[]) => unknown;
  (pg.Client.prototype as unknown as { query: (...args: unknown[]) => unknown }).query = function (
    this: object,
    ...args: unknown[]
  ) {
    const parts = statementsOf(args);
    if (parts === undefined || skipped.has(this)) return original.apply(this, args);
    const onResult = record(this, parts);
    const last = args.length - 1;
    const callback = args[last];
    if (typeof callback === 'function') {
      args[last] = (error: unknown, result: unknown) => {
        if (!error) onResult(result);
        countPlanModeSwitches(this, args[0]);
        (callback as (error: unknown, result: unknown) => void)(error, result);
      };
      return original.apply(this, args);
    }
    const returned = original.apply(this, args);
    if (returned && typeof (returned as Promise<unknown>).then === 'function') {
      (returned as Promise<unknown>).then(onResult, () => {});
    }
    return returned;
  };
}

/** Marks a client whose statements are the benchmark's own bookkeeping, not the system's. */
export function uncounted<C extends object>(client: C): C {
  skipped.add(client);
  return client;
}

/** What has been counted for a database so far (zeros if nothing). */
export function sqlCounts(database: string): SqlCounts {
  const counts = countsByDatabase.get(database);
  return counts
    ? { ...counts, shapes: { ...counts.shapes } }
    : { statements: 0, roundTrips: 0, transactions: 0, writeTransactions: 0, shapes: {} };
}
