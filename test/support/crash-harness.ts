import { cp, mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, beforeEach } from 'vitest';
import { openDb } from '../../src/store/index.js';
import { BACKEND, createTestDatabase } from './backend.js';
import { type ChildScript, killAllChildren, spawnScript, waitForHealthy } from './processes.js';

/**
 * What the fault-injection suites share: a durable store per test (a fresh
 * PostgreSQL database, or a PGlite directory on disk copied from a migrated
 * template), the crash fixtures' server and worker as child processes, and
 * the attempts log their activities write. Call `useCrashHarness(skip)` at
 * the top of a test file; it registers the hooks.
 */
const SERVER_FIXTURE = 'test/fixtures/crash/server.ts';
const WORKER_FIXTURE = 'test/fixtures/crash/worker.ts';
export const TASK_QUEUE = 'crash';

interface Store {
  env: Record<string, string>;
  cleanup(): Promise<void>;
}

export interface CrashHarness {
  /** Starts the server fixture (on `port`, or any free port) and waits until /healthz answers. */
  startServerProcess(port?: number): Promise<{ process: ChildScript; url: string; port: number }>;
  /** Starts a worker process on the test queue and waits until it is polling; returns it and its identity. */
  startWorkerProcess(
    name: string,
    address: string,
    env?: Record<string, string>,
  ): Promise<{ process: ChildScript; identity: string }>;
  /** The lines the fixtures' activities appended to this test's attempts log. */
  logLines(): Promise<string[]>;
}

export function useCrashHarness(skip: boolean): CrashHarness {
  let store: Store;
  let tmp: string;
  let log: string;
  /** A migrated, cleanly closed PGlite data directory, copied for each test: initdb once, not per test (~3 s each). */
  let pgliteTemplate: string | undefined;

  beforeAll(async () => {
    if (skip || BACKEND !== 'pglite') return;
    pgliteTemplate = await mkdtemp(join(tmpdir(), 'tideway-crash-template-'));
    const db = await openDb({ dataDir: pgliteTemplate });
    await db.close();
  });

  afterAll(async () => {
    if (pgliteTemplate) await rm(pgliteTemplate, { recursive: true, force: true });
  });

  beforeEach(async () => {
    if (skip) return;
    tmp = await mkdtemp(join(tmpdir(), 'tideway-crash-'));
    log = join(tmp, 'attempts.log');
    if (BACKEND === 'postgres') {
      const db = await createTestDatabase();
      store = { env: { CRASH_DATABASE_URL: db.url }, cleanup: db.drop };
    } else {
      // On disk, not in memory: the data must outlive the server process.
      const dataDir = join(tmp, 'pglite');
      await cp(pgliteTemplate as string, dataDir, { recursive: true });
      store = { env: { CRASH_DATA_DIR: dataDir }, cleanup: async () => {} };
    }
  });

  afterEach(async () => {
    if (skip) return;
    await killAllChildren();
    await store.cleanup();
    await rm(tmp, { recursive: true, force: true });
  });

  return {
    async startServerProcess(port = 0) {
      const child = await spawnScript(SERVER_FIXTURE, {
        name: 'server',
        env: { ...store.env, CRASH_PORT: String(port) },
      });
      const [, url] = await child.waitForLine(/listening on (http:\/\/\S+)/);
      await waitForHealthy(url as string);
      return { process: child, url: url as string, port: Number(new URL(url as string).port) };
    },
    async startWorkerProcess(name, address, env = {}) {
      const child = await spawnScript(WORKER_FIXTURE, {
        name,
        env: { TIDEWAY_ADDRESS: address, CRASH_TASK_QUEUE: TASK_QUEUE, CRASH_LOG: log, ...env },
      });
      const [, identity] = await child.waitForLine(/worker ready (\S+)/);
      await child.waitForLine(/polling task queue/);
      return { process: child, identity: identity as string };
    },
    async logLines() {
      const text = await readFile(log, 'utf8').catch(() => '');
      return text.split('\n').filter(Boolean);
    },
  };
}
