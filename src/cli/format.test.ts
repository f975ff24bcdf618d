import { stripVTControlCharacters } from 'node:util';
import { describe, expect, test } from 'vitest';
import { formatDuration, formatFailure, formatJson, formatTable } from './format.js';
import { maskPassword } from './server-command.js';

describe('cli formatting', () => {
  test('durations read the way people say them', () => {
    expect(formatDuration(0)).toBe('0ms');
    expect(formatDuration(850)).toBe('850ms');
    expect(formatDuration(1000)).toBe('1s');
    expect(formatDuration(1234)).toBe('1.23s');
    expect(formatDuration(12_340)).toBe('12.3s');
    expect(formatDuration(185_000)).toBe('3m 05s');
    expect(formatDuration(7_380_000)).toBe('2h 03m');
    expect(formatDuration(3 * 86_400_000 + 4 * 3_600_000)).toBe('3d 04h');
  });

  test('tables align columns and ignore colour codes when measuring', () => {
    const red = (text: string) => `\x1b[31m${text}\x1b[39m`;
    const table = stripVTControlCharacters(
      formatTable(
        ['ID', 'STATUS', 'N'],
        [
          ['a', red('failed'), '1'],
          ['long-id', 'ok', '12'],
        ],
      ),
    );
    expect(table.split('\n')).toEqual(['ID       STATUS  N', 'a        failed  1', 'long-id  ok      12']);
  });

  test('failures print their cause chain, one link per line', () => {
    const text = formatFailure({
      type: 'ActivityFailure',
      message: 'activity charge failed',
      cause: { type: 'CardDeclined', message: 'card declined', cause: { type: 'Error', message: 'bank said no' } },
    });
    expect(text).toBe(
      'ActivityFailure: activity charge failed\n  caused by: CardDeclined: card declined\n    caused by: Error: bank said no',
    );
  });

  test('JSON is compact when short, indented when long', () => {
    expect(formatJson('Hello, World')).toBe('"Hello, World"');
    expect(formatJson({ items: 'x'.repeat(100) })).toContain('\n  "items"');
  });

  test('database URLs never show their password', () => {
    expect(maskPassword('postgres://alice:hunter2@db:5432/tideway')).toBe('postgres://alice:****@db:5432/tideway');
    expect(maskPassword('postgres://db:5432/tideway')).toBe('postgres://db:5432/tideway');
  });
});
