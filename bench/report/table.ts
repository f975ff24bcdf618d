// Plain-text tables for the terminal and Markdown tables for the README.

export type Cell = string | number | boolean | undefined;

function text(cell: Cell): string {
  if (cell === undefined) return '–';
  if (typeof cell === 'number') return Number.isFinite(cell) ? String(cell) : '–';
  return String(cell);
}

/** A Markdown table (also readable as plain text), numbers right-aligned. */
export function table(headers: string[], rows: Cell[][]): string {
  const cells = rows.map((row) => row.map(text));
  const widths = headers.map((h, i) => Math.max(h.length, ...cells.map((r) => (r[i] ?? '').length)));
  const numeric = headers.map((_, i) => rows.every((r) => typeof r[i] === 'number' || r[i] === undefined));
  const line = (values: string[]) =>
    `| ${values.map((v, i) => (numeric[i] ? v.padStart(widths[i]!) : v.padEnd(widths[i]!))).join(' | ')} |`;
  const rule = `| ${widths.map((w, i) => (numeric[i] ? `${'-'.repeat(w - 1)}:` : '-'.repeat(w))).join(' | ')} |`;
  return [line(headers), rule, ...cells.map(line)].join('\n');
}
