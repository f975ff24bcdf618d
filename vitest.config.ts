import { availableParallelism } from 'node:os';
import { defineConfig } from 'vitest/config';

/**
 * Three projects: `unit` (pure code beside the source and the benchmark), and the cross-layer
 * suites under test/ run twice — on embedded PGlite and on PostgreSQL.
 * `tideway/*` imports resolve to source through the `source` condition.
 */
const shared = {
  resolve: { conditions: ['source'] },
  ssr: { resolve: { conditions: ['source'] } },
};

export default defineConfig({
  test: {
    // At least two test files at a time, even on 2 cores (Vitest's default is one fewer than the cores): most
    // of a file's time is spent waiting on timers, child processes and the database, which another file fills.
    maxWorkers: Math.max(2, availableParallelism() - 1),
    projects: [
      {
        ...shared,
        // Some unit files open an embedded PGlite in a hook: seconds when the machine is busy.
        test: { name: 'unit', include: ['src/**/*.test.ts', 'bench/**/*.test.ts'], hookTimeout: 60_000 },
      },
      {
        ...shared,
        test: {
          name: 'pglite',
          include: ['test/**/*.test.ts'],
          env: { TIDEWAY_TEST_BACKEND: 'pglite' },
          testTimeout: 60_000,
          hookTimeout: 60_000,
        },
      },
      {
        ...shared,
        test: {
          name: 'postgres',
          include: ['test/**/*.test.ts'],
          env: { TIDEWAY_TEST_BACKEND: 'postgres' },
          testTimeout: 60_000,
          hookTimeout: 60_000,
        },
      },
    ],
  },
});
