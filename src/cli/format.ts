import pc from 'picocolors';
import type { Failure, WorkflowStatus } from '../protocol/index.js';

/** Text helpers for the human (non `--json`) output of the CLI: tables, durations, timestamps, failures. */

const ANSI_PATTERN = new RegExp(`${String.fromCharCode(27)}\\[[0-9;]*m`, 'g');

/** Width of a string as a terminal shows it: colour codes take no room. */
function visibleWidth(text: string): number {
  return text.replace(ANSI_PATTERN, '').length;
}

/** Left-aligned columns separated by two spaces, with a dim header row; the last column is not padded. */
export function formatTable(headers: string[], rows: string[][]): string {
  const widths = headers.map((header, column) =>
    Math.max(visibleWidth(header), ...rows.map((row) => visibleWidth(row[column] ?? ''))),
  );
  const line = (cells: string[]) =>
    cells
      .map((cell, column) =>
        column === cells.length - 1 ? cell : cell + ' '.repeat((widths[column] ?? 0) - visibleWidth(cell)),
      )
      .join('  ')
      .trimEnd();
  return [pc.dim(line(headers)), ...rows.map(line)].join('\n');
}

/** `key: value` lines with the keys aligned; entries whose value is undefined are left out. */
export function formatKeyValues(entries: [string, string | undefined][]): string {
  const present = entries.filter((entry): entry is [string, string] => entry[1] !== undefined);
  const width = Math.max(0, ...present.map(([key]) => key.length + 1));
  return present.map(([key, value]) => `${pc.dim(`${key}:`.padEnd(width))}  ${value}`).join('\n');
}

/** A duration for people: '850ms', '1.24s', '3m 05s', '2h 03m', '3d 04h'. */
export function formatDuration(ms: number): string {
  if (ms < 1000) return `${Math.round(ms)}ms`;
  // '1.5s' rather than '1.50s': trailing zeros add digits, not information.
  if (ms < 60_000) return `${Number((ms / 1000).toFixed(ms < 10_000 ? 2 : 1))}s`;
  const totalSeconds = Math.round(ms / 1000);
  const pad = (n: number) => String(n).padStart(2, '0');
  if (totalSeconds < 3600) return `${Math.floor(totalSeconds / 60)}m ${pad(totalSeconds % 60)}s`;
  const totalMinutes = Math.floor(totalSeconds / 60);
  if (totalMinutes < 24 * 60) return `${Math.floor(totalMinutes / 60)}h ${pad(totalMinutes % 60)}m`;
  const totalHours = Math.floor(totalMinutes / 60);
  return `${Math.floor(totalHours / 24)}d ${pad(totalHours % 24)}h`;
}

/** A timestamp (ms since the epoch) in local time: '2025-03-01 14:05:09'; with milliseconds when asked. */
export function formatTimestamp(ms: number, withMillis = false): string {
  const d = new Date(ms);
  const pad = (n: number, width = 2) => String(n).padStart(width, '0');
  const date = `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())}`;
  const time = `${pad(d.getHours())}:${pad(d.getMinutes())}:${pad(d.getSeconds())}`;
  return `${date} ${time}${withMillis ? `.${pad(d.getMilliseconds(), 3)}` : ''}`;
}

const STATUS_COLORS: Record<WorkflowStatus, (text: string) => string> = {
  running: pc.blue,
  completed: pc.green,
  failed: pc.red,
  terminated: pc.yellow,
  cancelled: pc.yellow,
  'timed-out': pc.red,
  'continued-as-new': pc.cyan,
};

/** A workflow status, coloured so a list can be scanned at a glance. */
export function formatStatus(status: WorkflowStatus): string {
  return STATUS_COLORS[status](status);
}

/** JSON for people: compact when short, indented when long. */
export function formatJson(value: unknown): string {
  const compact = JSON.stringify(value) ?? 'undefined';
  return compact.length <= 80 ? compact : JSON.stringify(value, null, 2);
}

/**
 * A failure and its cause chain, one line per link:
 * `ActivityFailure: activity greet failed` / `  caused by: Error: boom`.
 */
export function formatFailure(failure: Failure): string {
  const lines: string[] = [];
  let link: Failure | undefined = failure;
  for (let depth = 0; link && depth < 20; depth++, link = link.cause) {
    const text = `${link.type}: ${link.message}`;
    lines.push(depth === 0 ? text : `${'  '.repeat(depth)}caused by: ${text}`);
  }
  return lines.join('\n');
}

/** The first line of a failure's message, for table cells. */
export function shortFailure(failure: Failure | undefined): string {
  if (!failure) return '';
  const firstLine = failure.message.split('\n')[0] ?? '';
  return firstLine.length > 80 ? `${firstLine.slice(0, 77)}...` : firstLine;
}

/** An argument as a shell user would type it back. */
export function quoteArg(value: string): string {
  return /^[\w@%+=:,./-]+$/.test(value) ? value : `'${value.replaceAll("'", `'\\''`)}'`;
}
