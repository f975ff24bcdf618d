// The machine a run was measured on, printed with every table: numbers from
// different machines are not comparable.
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { cpus, loadavg, totalmem } from 'node:os';
import { postgresInfo } from './postgres.js';

export interface Machine {
  cores: number;
  cpu: string;
  memoryGiB: number;
  node: string;
  platform: string;
  postgres: string;
  pgStatStatements: boolean;
  dbosVersion: string;
  commit: string;
  /** 1, 5 and 15 minute load averages when the run started (others' work on a shared machine shows here). */
  loadAverage: number[];
}

function dbosVersion(): string {
  try {
    const url = new URL('../../node_modules/@dbos-inc/dbos-sdk/package.json', import.meta.url);
    return (JSON.parse(readFileSync(url, 'utf8')) as { version: string }).version;
  } catch {
    return 'not installed';
  }
}

function commit(): string {
  // A run from a snapshot outside the repository (e.g. `git archive HEAD`) names its commit.
  if (process.env.TIDEWAY_BENCH_COMMIT) return process.env.TIDEWAY_BENCH_COMMIT;
  try {
    const head = execFileSync('git', ['rev-parse', '--short', 'HEAD'], { encoding: 'utf8' }).trim();
    const dirty = execFileSync('git', ['status', '--porcelain', '--', 'src'], { encoding: 'utf8' }).trim();
    return dirty ? `${head} (src modified)` : head;
  } catch {
    return 'unknown';
  }
}

export async function describeMachine(postgresAvailable: boolean): Promise<Machine> {
  const pgInfo = postgresAvailable ? await postgresInfo() : { version: 'unreachable', preloadLibraries: '' };
  return {
    cores: cpus().length,
    cpu: cpus()[0]?.model.trim() ?? 'unknown',
    memoryGiB: Math.round(totalmem() / 2 ** 30),
    node: process.version,
    platform: `${process.platform} ${process.arch}`,
    postgres: pgInfo.version,
    pgStatStatements: pgInfo.preloadLibraries.includes('pg_stat_statements'),
    dbosVersion: dbosVersion(),
    commit: commit(),
    loadAverage: loadavg().map((l) => Math.round(l * 100) / 100),
  };
}

export function machineLine(m: Machine): string {
  return `${m.cores} cores (${m.cpu}), ${m.memoryGiB} GiB, Node ${m.node}, ${m.postgres} on the same machine, DBOS ${m.dbosVersion}, commit ${m.commit}, load average at start ${m.loadAverage.join(' ')}`;
}
