import type pg from 'pg';

/**
 * What one pooled connection has prepared (see `PipelinedStatements`):
 * statement names by text, how each one's rows read, and the plan mode the
 * connection is in. Kept beside the connection, for as long as it lives.
 */

export type PlanMode = 'generic' | 'custom';

/**
 * How a prepared statement's rows read: its columns' names and value
 * parsers, taken from its first description on the connection. A prepared
 * statement's columns cannot change (PostgreSQL refuses to run one whose
 * result would), so later runs skip the description: PostgreSQL sends one
 * message fewer per statement, and nothing is parsed again to read it.
 */
export interface RowShape {
  readonly names: readonly string[];
  readonly parsers: readonly ((text: string) => unknown)[];
}

/** A column as described by PostgreSQL. */
interface Field {
  name: string;
  dataTypeID: number;
}

export function rowShape(
  fields: readonly Field[],
  types: pg.CustomTypesConfig | undefined,
  fallback: pg.CustomTypesConfig,
): RowShape {
  const parsers = (types ?? fallback) as { getTypeParser(oid: number, format: 'text'): (text: string) => unknown };
  return {
    names: fields.map((f) => f.name),
    parsers: fields.map((f) => parsers.getTypeParser(f.dataTypeID, 'text')),
  };
}

/** A row of text values as an object keyed by column name. */
export function readRow(shape: RowShape, values: readonly (string | null)[]): Record<string, unknown> {
  const row: Record<string, unknown> = {};
  for (let i = 0; i < values.length; i++) {
    const value = values[i];
    row[shape.names[i]!] = value === null || value === undefined ? null : shape.parsers[i]!(value);
  }
  return row;
}

/** Most statements kept prepared per connection; past it, new texts are parsed each time (unnamed). */
const MAX_PREPARED = 500;
let nextName = 0;

/** The prepared statements of one connection, by text. Names are never reused, so a forgotten one cannot clash. */
export class PreparedNames {
  private readonly byText = new Map<string, string>();
  /** The connection's plan mode as last switched, or undefined if unknown (new, or a switch may have been undone). */
  planMode: PlanMode | undefined;
  private readonly orphans: string[] = [];
  /** Row shapes by statement name; null for a statement that returns no rows. */
  private readonly shapes = new Map<string, RowShape | null>();

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
    this.shapes.delete(name);
    this.orphans.push(name);
  }

  /** How the named statement's rows read: undefined until it has been described once. */
  shapeOf(name: string): RowShape | null | undefined {
    return this.shapes.get(name);
  }

  setShape(name: string, shape: RowShape | null): void {
    this.shapes.set(name, shape);
  }

  takeOrphans(): string[] {
    return this.orphans.splice(0);
  }
}

const namesByConnection = new WeakMap<object, PreparedNames>();

export function preparedNames(connection: object): PreparedNames {
  let names = namesByConnection.get(connection);
  if (!names) {
    names = new PreparedNames();
    namesByConnection.set(connection, names);
  }
  return names;
}
