import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join, relative, resolve } from 'node:path';
import { expect, test } from 'vitest';

/**
 * The "may import" table of ARCHITECTURE.md, checked against the code so it
 * stays true. Two additions to the table, on purpose: the worker imports
 * `activity/` (it provides the activity context activities read), and the CLI
 * imports `protocol/` (for types and durations). `testing/` assembles all layers.
 */
const MAY_IMPORT: Record<string, string[]> = {
  protocol: [],
  store: ['protocol'],
  engine: ['protocol', 'store'],
  server: ['engine', 'protocol'],
  client: ['protocol'],
  worker: ['protocol', 'client', 'workflow', 'activity'],
  workflow: ['protocol'],
  activity: ['protocol'],
  cli: ['client', 'server', 'protocol'],
  testing: ['protocol', 'store', 'engine', 'server', 'client', 'worker', 'workflow', 'activity'],
};

const SRC = resolve('src');

function sourceFiles(dir: string): string[] {
  return readdirSync(dir).flatMap((name) => {
    const path = join(dir, name);
    if (statSync(path).isDirectory()) return sourceFiles(path);
    return name.endsWith('.ts') && !name.endsWith('.test.ts') ? [path] : [];
  });
}

test('every layer imports only the layers the architecture allows', () => {
  const violations: string[] = [];
  for (const file of sourceFiles(SRC)) {
    const layer = relative(SRC, file).split('/')[0]!;
    if (!file.slice(SRC.length + 1).includes('/')) continue; // src/index.ts re-exports the public API
    const allowed = MAY_IMPORT[layer];
    if (!allowed) {
      violations.push(`${relative(SRC, file)}: folder "${layer}" is not in the layer table`);
      continue;
    }
    const source = readFileSync(file, 'utf8');
    for (const match of source.matchAll(/(?:from|import)\s*\(?\s*['"](\.[^'"]+)['"]/g)) {
      const target = relative(SRC, resolve(file, '..', match[1]!)).split('/')[0]!;
      if (target !== layer && !allowed.includes(target)) {
        violations.push(`${relative(SRC, file)} imports ${target}/ (allowed: ${allowed.join(', ') || 'nothing'})`);
      }
    }
  }
  expect(violations).toEqual([]);
});

test('workflow code never reaches the store or the engine', () => {
  for (const file of sourceFiles(join(SRC, 'workflow'))) {
    expect(readFileSync(file, 'utf8')).not.toMatch(/['"](pg|@electric-sql\/pglite)['"]/);
  }
});
