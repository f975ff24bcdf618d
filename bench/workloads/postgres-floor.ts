// The physical floor: what PostgreSQL itself does for the same shapes. One
// single-row INSERT (autocommit) per "workflow": sequential for latency, and
// all at once through a pool of 10 connections for throughput.
import pg from 'pg';
import type { Sizes } from '../options.js';
import { medianOfRuns, percentile, round } from '../stats.js';
import { createBenchDatabase } from '../support/postgres.js';
import { repeat, type WorkloadResult } from './workload.js';

export async function measurePostgresFloor(sizes: Sizes): Promise<WorkloadResult> {
  const database = await createBenchDatabase('pg_floor_bench');
  const pool = new pg.Pool({ connectionString: database.url, max: 10 });
  pool.on('error', () => {});
  try {
    await pool.query('CREATE TABLE floor (id bigserial PRIMARY KEY, n int NOT NULL, payload jsonb NOT NULL)');
    const insert = (n: number) => pool.query('INSERT INTO floor (n, payload) VALUES ($1, $2)', [n, { n }]);
    for (let i = 0; i < sizes.warmup; i++) await insert(i);
    const runs = await repeat(sizes.repetitions, async () => {
      const times: number[] = [];
      for (let i = 0; i < sizes.latencyRuns; i++) {
        const t0 = performance.now();
        await insert(i);
        times.push(performance.now() - t0);
      }
      const t0 = performance.now();
      await Promise.all(Array.from({ length: sizes.floorInserts }, (_, i) => insert(i)));
      const seconds = (performance.now() - t0) / 1000;
      return {
        inserts: sizes.latencyRuns + sizes.floorInserts,
        latencyP50Ms: round(percentile(times, 50)),
        latencyP99Ms: round(percentile(times, 99)),
        insertsPerS: round(sizes.floorInserts / seconds),
      };
    });
    return medianOfRuns(runs);
  } finally {
    await pool.end();
    await database.drop();
  }
}
